"""Pre-processing as registered ops (big_vision's idea, with checked names and arguments).

Each op is a small frozen dataclass, registered by name, with checked
arguments, and up to two forms that compute the same thing:

* `example(img)`: one example in a DataLoader worker (a PIL image before
  `normalize`, a float CHW tensor after it), randomness from torch's global
  RNG, which the streaming path seeds per example;
* `batch(x, generator)`: a whole NCHW batch on the training device
  (uint8 0..255 before `normalize`, float after), randomness from the run's
  generator. Ops without it (crops of variable-size images, AutoAugment)
  make a dataset stream.

A recipe declares a train and an eval pipeline of ops (bench.pp.grammar
parses and checks them); both input paths execute the same op list, and
`str(op)` is what the report's protocol card prints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # parsing and printing pipelines (table files, `bench validate`) needs no torch
    import torch

NORMS = {  # named per-channel (mean, std) of pixels in [0, 1]
    # to [-1, 1]: vit_jax input_pipeline.py (google-research/vision_transformer@a4920ed:112, (im - 127.5) / 127.5)
    "vit": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    # timm's IMAGENET_DEFAULT_MEAN / _STD; the SAM code's MEAN_RGB / STDDEV_RGB (dataset_source_imagenet.py@dae9904:50)
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    # google-research/sam sam_jax/datasets/dataset_source.py@dae9904:210-214
    "cifar10": ((0.49139968, 0.48215841, 0.44653091), (0.24703223, 0.24348513, 0.26158784)),
    "cifar100": ((0.50707516, 0.48654887, 0.44091784), (0.26733429, 0.25643846, 0.27615047)),
}
OPS: dict[str, type[Op]] = {}


def register(cls: type[Op]) -> type[Op]:
    OPS[cls.name] = cls
    return cls


def _interp(method: str):
    from torchvision.transforms import InterpolationMode

    return InterpolationMode(method)


def _is_tensor(img: Any) -> bool:
    import torch

    return isinstance(img, torch.Tensor)


@dataclass(frozen=True)
class Op:
    name: ClassVar[str] = ""
    batched: ClassVar[bool] = True  # has a batch form (the in-memory path can run it)
    random: ClassVar[bool] = False  # draws random numbers (training augmentation only)
    # Exact on 8-bit pixels in both forms (indexing only). An op that is not (a resize) has its two forms agree
    # only after `normalize`: before it, the per-example form is PIL's 8-bit resize, which a batch cannot repeat.
    exact_on_pixels: ClassVar[bool] = False

    def example(self, img):
        raise NotImplementedError

    def batch(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def out_size(self, size: int | None) -> int | None:
        """The (square) output size given the input's, None when unknown."""
        return size

    def __str__(self) -> str:
        args = [_show(getattr(self, f.name)) for f in dataclasses.fields(self)]
        return f"{self.name}({', '.join(args)})" if args else self.name


def _show(value: Any) -> str:
    """Arguments as `parse` reads them back exactly (floats in their shortest exact form)."""
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@register
@dataclass(frozen=True)
class Normalize(Op):
    """Pixels x in [0, 255] to (x / 255 - mean) / std, per channel: normalize(vit), (imagenet), (cifar10),
    (cifar100), or normalize((means), (stds)). Exactly one per pipeline; it ends the 8-bit (PIL) stage."""

    name: ClassVar[str] = "normalize"
    mean: tuple[float, ...] = NORMS["vit"][0]
    std: tuple[float, ...] = NORMS["vit"][1]

    def __str__(self) -> str:
        for key, (mean, std) in NORMS.items():
            if (self.mean, self.std) == (mean, std):
                return f"normalize({key})"
        return f"normalize({_show(self.mean)}, {_show(self.std)})"

    def example(self, img):
        from torchvision.transforms import functional as TF

        x = img if _is_tensor(img) else TF.to_tensor(img)
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


@register
@dataclass(frozen=True)
class PadCrop(Op):
    """Pad by `pad` pixels (edge: repeat the border; reflect) and crop back at a random offset."""

    name: ClassVar[str] = "pad_crop"
    random: ClassVar[bool] = True
    exact_on_pixels: ClassVar[bool] = True
    pad: int = 4
    mode: str = "edge"

    def example(self, img):
        from torchvision import transforms as T

        size = tuple(img.shape[-2:]) if _is_tensor(img) else img.size[::-1]
        return T.RandomCrop(size, padding=self.pad, padding_mode=self.mode)(img)

    def batch(self, x, generator):
        import torch
        import torch.nn.functional as F

        if self.pad <= 0:
            return x
        n, _, h, w = x.shape
        s = self.pad
        x = F.pad(x.float() if x.dtype == torch.uint8 else x, (s, s, s, s),
                  mode="replicate" if self.mode == "edge" else "reflect")
        dx = torch.randint(0, 2 * s + 1, (n,), generator=generator).to(x.device)
        dy = torch.randint(0, 2 * s + 1, (n,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # n x h
        cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # n x w
        idx_n = torch.arange(n, device=x.device)[:, None, None]
        return x.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


@register
@dataclass(frozen=True)
class FlipLR(Op):
    """Random horizontal flip with probability 1/2."""

    name: ClassVar[str] = "flip_lr"
    random: ClassVar[bool] = True
    exact_on_pixels: ClassVar[bool] = True

    def example(self, img):
        from torchvision import transforms as T

        return T.RandomHorizontalFlip()(img)

    def batch(self, x, generator):
        import torch

        flip = torch.rand(x.shape[0], generator=generator).to(x.device) < 0.5
        return torch.where(flip[:, None, None, None], x.flip(3), x)


@register
@dataclass(frozen=True)
class Cutout(Op):
    """Cutout (DeVries & Taylor 2017, arXiv:1708.04552): zero a size x size square whose centre is uniform
    over the image, clipped at the border (rows [y - size//2, y + size//2), as the paper's code does). Before
    `normalize` zero is a black pixel; after it, the channel mean (the paper's code masks the normalised
    tensor). per=image: a square per image (the Cutout paper); per=batch: one square for the whole batch, as
    the SAM code applies it (sam_jax/datasets/augmentation.py@dae9904:102-136, after batching), which only the
    batched (in-memory) path can run. Where it goes in the pipeline is the recipe's choice, with its source."""

    name: ClassVar[str] = "cutout"
    random: ClassVar[bool] = True
    exact_on_pixels: ClassVar[bool] = True
    size: int = 16
    per: str = "image"

    def example(self, img):
        import numpy as np
        import torch
        from PIL import Image

        if self.per == "batch":
            from bench.errors import BenchError

            raise BenchError("cutout(per=batch) draws one square per batch: it needs the batched (in-memory) "
                             "input path, which this dataset or pipeline does not take")
        tensor = _is_tensor(img)
        h, w = tuple(img.shape[-2:]) if tensor else img.size[::-1]
        y, x = int(torch.randint(h, ())), int(torch.randint(w, ()))
        half = self.size // 2
        y0, y1, x0, x1 = max(0, y - half), min(h, y + half), max(0, x - half), min(w, x + half)
        if tensor:
            out = img.clone()
            out[..., y0:y1, x0:x1] = 0
            return out
        a = np.array(img)
        a[y0:y1, x0:x1] = 0
        return Image.fromarray(a)

    def batch(self, x, generator):
        import torch

        n, _, h, w = x.shape
        draws = 1 if self.per == "batch" else n
        ys = torch.randint(h, (draws,), generator=generator).to(x.device).expand(n)
        xs = torch.randint(w, (draws,), generator=generator).to(x.device).expand(n)
        half = self.size // 2
        rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
        in_y = (rows[None, :] >= ys[:, None] - half) & (rows[None, :] < ys[:, None] + half)
        in_x = (cols[None, :] >= xs[:, None] - half) & (cols[None, :] < xs[:, None] + half)
        return x.masked_fill((in_y[:, :, None] & in_x[:, None, :])[:, None], 0)


@register
@dataclass(frozen=True)
class Resize(Op):
    """Resize the whole image to size x size (aspect ratio not kept, nothing cropped)."""

    name: ClassVar[str] = "resize"
    size: int = 224
    method: str = "bilinear"

    def example(self, img):
        from torchvision import transforms as T

        return T.Resize((self.size, self.size), interpolation=_interp(self.method))(img)

    def batch(self, x, generator):
        import torch.nn.functional as F

        if x.shape[-1] == self.size and x.shape[-2] == self.size:
            return x
        return F.interpolate(x.float(), size=(self.size, self.size), mode=self.method, align_corners=False,
                             antialias=self.method != "nearest")

    def out_size(self, size):
        return self.size


@register
@dataclass(frozen=True)
class ResizeShort(Op):
    """Resize so that the shorter side is `size`, keeping the aspect ratio."""

    name: ClassVar[str] = "resize_short"
    batched: ClassVar[bool] = False
    size: int = 256
    method: str = "bilinear"

    def example(self, img):
        from torchvision import transforms as T

        return T.Resize(self.size, interpolation=_interp(self.method))(img)

    def out_size(self, size):
        return None  # the longer side depends on the image


@register
@dataclass(frozen=True)
class CenterCrop(Op):
    """The central size x size square."""

    name: ClassVar[str] = "center_crop"
    batched: ClassVar[bool] = False
    size: int = 224

    def example(self, img):
        from torchvision import transforms as T

        return T.CenterCrop(self.size)(img)

    def out_size(self, size):
        return self.size


@register
@dataclass(frozen=True)
class InceptionCrop(Op):
    """Random crop of `area_min`..100% of the image area, aspect 3/4..4/3, resized to size x size.

    area_min 0.05: the ViT fine-tuning crop (vit_jax input_pipeline.py@a4920ed:96); 0.08: the Inception
    / ImageNet crop (the SAM code's dataset_source_imagenet.py@dae9904:127). torchvision's
    RandomResizedCrop: 10 tries, then a centre crop.
    """

    name: ClassVar[str] = "inception_crop"
    batched: ClassVar[bool] = False
    random: ClassVar[bool] = True
    size: int = 224
    area_min: float = 0.05
    method: str = "bilinear"

    def example(self, img):
        from torchvision import transforms as T

        return T.RandomResizedCrop(self.size, scale=(self.area_min, 1.0), interpolation=_interp(self.method))(img)

    def out_size(self, size):
        return self.size


@register
@dataclass(frozen=True)
class AutoAugment(Op):
    """AutoAugment (Cubuk et al. 2019) with torchvision's policy of that name; `fill`: the grey level of
    pixels that rotations and shifts uncover (the SAM code's replace value is 128)."""

    name: ClassVar[str] = "autoaugment"
    batched: ClassVar[bool] = False
    random: ClassVar[bool] = True
    policy: str = "imagenet"
    fill: int = 0

    def example(self, img):
        from torchvision import transforms as T

        return T.AutoAugment(T.AutoAugmentPolicy(self.policy), fill=[self.fill] * 3 if self.fill else None)(img)


@register
@dataclass(frozen=True)
class RandomCrop(Op):
    """A random size x size square (BiT's fine-tuning crop, after resizing to a larger square)."""

    name: ClassVar[str] = "random_crop"
    batched: ClassVar[bool] = False
    random: ClassVar[bool] = True
    size: int = 224

    def example(self, img):
        from torchvision import transforms as T

        return T.RandomCrop(self.size)(img)

    def out_size(self, size):
        return self.size


@register
@dataclass(frozen=True)
class CenterCropFrac(Op):
    """The central square of side frac * min(height, width) (the SAM code crops 600/632 before resizing)."""

    name: ClassVar[str] = "center_crop_frac"
    batched: ClassVar[bool] = False
    frac: float = 0.875

    def example(self, img):
        from torchvision.transforms import functional as TF

        h, w = (img.shape[-2:] if _is_tensor(img) else img.size[::-1])
        side = int(round(self.frac * min(h, w)))
        return TF.center_crop(img, [side, side])

    def out_size(self, size):
        return None
