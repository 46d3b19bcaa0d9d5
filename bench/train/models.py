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
                 zero_head: bool = False, pos_embed_resample: str = "timm") -> torch.nn.Module:
    import timm

    import bench.train.cifar  # noqa: F401  (registers the harness's own timm models: the CIFAR architectures)
    import bench.train.resnet_v1  # noqa: F401  (and google-research/sam's ImageNet ResNets)

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
    if pos_embed_resample == "linear" and checkpoint is not None and getattr(model, "pos_embed", None) is not None:
        _resample_linear(model, _checkpoint_pos_embed(name, checkpoint, root, kwargs))
    if zero_head:
        head = model.get_classifier()
        with torch.no_grad():
            for p in head.parameters():
                p.zero_()
    return model


def _checkpoint_pos_embed(name: str, checkpoint: dict[str, str], root: str | Path, kwargs: dict) -> torch.Tensor:
    """The checkpoint's own position embeddings, at the grid it was trained on."""
    import timm

    if "file" in checkpoint:
        state = torch.load(Path(root) / checkpoint["file"], map_location="cpu", weights_only=True)
        return state["pos_embed"]
    cfg = timm.models.get_pretrained_cfg(f"{name}.{checkpoint['hub']}")
    native = {**kwargs, "img_size": cfg.input_size[-1]}  # no resampling at load
    source = timm.create_model(f"{name}.{checkpoint['hub']}", pretrained=True, **native)
    return source.pos_embed.detach()


@torch.no_grad()
def _resample_linear(model: torch.nn.Module, source: torch.Tensor) -> None:
    """Replace the loader's (bicubic) resampling with vit_jax's: the grid part of the checkpoint's position
    embeddings zoomed linearly with the corners aligned (scipy.ndimage.zoom(order=1), vision_transformer
    vit_jax/checkpoint.py@a4920ed:172), the prefix (class) tokens kept as they are."""
    import torch.nn.functional as F

    target = model.pos_embed
    prefix = 0 if getattr(model, "no_embed_class", False) else getattr(model, "num_prefix_tokens", 1)
    old, new = source.shape[1] - prefix, target.shape[1] - prefix
    g0, g1 = int(round(old ** 0.5)), int(round(new ** 0.5))
    if g0 * g0 != old or g1 * g1 != new:
        raise BenchError(f"position embeddings of {old} and {new} tokens are not square grids")
    if g0 == g1:
        return
    grid = source[:, prefix:].reshape(1, g0, g0, -1).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=(g1, g1), mode="bilinear", align_corners=True)
    target.copy_(torch.cat([source[:, :prefix].to(target.dtype),
                            grid.permute(0, 2, 3, 1).reshape(1, g1 * g1, -1).to(target.dtype)], dim=1))
