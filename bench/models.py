"""Model creation through timm, from scratch or from a checkpoint.

Both checkpoint kinds go through timm's own pretrained-weight loader
(`pretrained=True`): a hub tag downloads `<model>.<tag>`; a local file is given
to the same loader through `pretrained_cfg_overlay={"file": ...}`, so the
offline tests exercise the code path that fetches hub weights. timm adapts the
classifier head to `num_classes` (re-initialised), the stem to `in_chans` and,
for ViTs created with another `img_size`, interpolates the position
embeddings. `num_classes=None` keeps the checkpoint's head (evaluation-only
entries); `zero_head` zero-initialises the new head, as ViT fine-tuning does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError


def create_model(name: str, num_classes: int | None, in_chans: int, model_kwargs: dict[str, Any] | None = None,
                 checkpoint: dict[str, str] | None = None, root: str | Path = ".",
                 zero_head: bool = False) -> torch.nn.Module:
    import timm

    kwargs = dict(model_kwargs or {})
    kwargs["in_chans"] = in_chans
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if checkpoint is None:
        model = timm.create_model(name, pretrained=False, **kwargs)
    elif "file" in checkpoint:
        path = Path(root) / checkpoint["file"]
        if not path.is_file():
            raise BenchError(f"checkpoint file {path} does not exist")
        model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, **kwargs)
    else:
        tag = checkpoint["hub"]
        try:
            model = timm.create_model(f"{name}.{tag}", pretrained=True, **kwargs)
        except (OSError, RuntimeError, ValueError) as exc:  # no network, unknown tag, gated repo
            raise BenchError(f"cannot load the pretrained weights {name}.{tag}: {exc}") from None
    if zero_head:
        head = model.get_classifier()
        with torch.no_grad():
            for p in head.parameters():
                p.zero_()
    return model
