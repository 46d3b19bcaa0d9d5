"""Model creation through timm, from scratch or from a checkpoint.

Both checkpoint kinds go through timm's own pretrained-weight loader
(`pretrained=True`): a hub tag downloads `<model>.<tag>`; a local file is given
to the same loader through `pretrained_cfg_overlay={"file": ...}`, so the
offline tests exercise the code path that fetches hub weights. timm adapts the
classifier head to `num_classes` and the stem to `in_chans`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError


def create_model(name: str, num_classes: int, in_chans: int, model_kwargs: dict[str, Any] | None = None,
                 checkpoint: dict[str, str] | None = None, root: str | Path = ".") -> torch.nn.Module:
    import timm

    kwargs = dict(model_kwargs or {})
    kwargs.update(num_classes=num_classes, in_chans=in_chans)
    if checkpoint is None:
        return timm.create_model(name, pretrained=False, **kwargs)
    if "file" in checkpoint:
        path = Path(root) / checkpoint["file"]
        if not path.is_file():
            raise BenchError(f"checkpoint file {path} does not exist")
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, **kwargs)
    tag = checkpoint["hub"]
    try:
        return timm.create_model(f"{name}.{tag}", pretrained=True, **kwargs)
    except (OSError, RuntimeError) as exc:  # no network, unknown tag, gated repo
        raise BenchError(f"cannot load the pretrained weights {name}.{tag}: {exc}") from None
