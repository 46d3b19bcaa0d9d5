"""normalize: pixels in [0, 255] to (x / 255 - mean) / std per channel; the op that ends the 8-bit stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.errors import choices
from bench.pp.core import Op, arg, is_tensor, register, show

NORMS = {  # named per-channel (mean, std) of pixels in [0, 1]
    # to [-1, 1]: google-research/vision_transformer vit_jax/input_pipeline.py@a4920ed:113 `im = (im - 127.5) / 127.5`
    "vit": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    # timm's IMAGENET_DEFAULT_MEAN / _STD; the SAM code's MEAN_RGB / STDDEV_RGB (dataset_source_imagenet.py@dae9904:50)
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    # google-research/sam sam_jax/datasets/dataset_source.py@dae9904:210-214
    "cifar10": ((0.49139968, 0.48215841, 0.44653091), (0.24703223, 0.24348513, 0.26158784)),
    "cifar100": ((0.50707516, 0.48654887, 0.44091784), (0.26733429, 0.25643846, 0.27615047)),
}


def _positive(std: tuple[float, ...]) -> str | None:
    return None if all(v > 0 for v in std) else f"must be positive, got {std!r}"


@register
@dataclass(frozen=True)
class Normalize(Op):
    """Pixels x in [0, 255] to (x / 255 - mean) / std, per channel: normalize(vit), (imagenet), (cifar10),
    (cifar100), or normalize((means), (stds)). Exactly one per pipeline; it ends the 8-bit (PIL) stage."""

    name: ClassVar[str] = "normalize"
    mean: tuple[float, ...] = arg(NORMS["vit"][0])
    std: tuple[float, ...] = arg(NORMS["vit"][1], check=_positive)

    @classmethod
    def positional(cls, args: tuple) -> tuple:
        if len(args) == 1 and isinstance(args[0], str):
            if args[0] not in NORMS:
                raise ValueError(f"normalize: unknown preset {args[0]!r}; {choices(args[0], NORMS)}")
            return NORMS[args[0]]
        return args

    def __str__(self) -> str:
        for key, (mean, std) in NORMS.items():
            if (self.mean, self.std) == (mean, std):
                return f"normalize({key})"
        return f"normalize({show(self.mean)}, {show(self.std)})"

    def example(self, img):
        from torchvision.transforms import functional as TF

        x = img if is_tensor(img) else TF.to_tensor(img)
        c = x.shape[0]
        mean, std = (list(self.mean), list(self.std)) if len(self.mean) == c else ([self.mean[0]] * c,
                                                                                   [self.std[0]] * c)
        return TF.normalize(x, mean, std)

    def batch(self, x, generator):
        import torch

        c = x.shape[1]
        mean = torch.tensor([m * 255.0 for m in self.mean], device=x.device)
        std = torch.tensor([s * 255.0 for s in self.std], device=x.device)
        if len(mean) != c:
            mean, std = mean[:1].expand(c), std[:1].expand(c)
        return x.float().sub_(mean[None, :, None, None]).div_(std[None, :, None, None])
