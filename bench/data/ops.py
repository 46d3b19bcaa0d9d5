"""Pre-processing as registered ops, printed and parsed as `op(args)|op(args)|...` (big_vision's idea).

Each op is a small frozen dataclass, registered by name, with checked
arguments, and up to two forms that compute the same thing:

* `example(img)`: one example in a DataLoader worker (a PIL image before
  `normalize`, a float CHW tensor after it), randomness from torch's global
  RNG, which the streaming path seeds per example;
* `batch(x, generator)`: a whole NCHW batch on the training device
  (uint8 0..255 before `normalize`, float after), randomness from the run's
  generator. Ops without it (crops of variable-size images, AutoAugment)
  make a dataset stream.

A recipe resolves to a train and an eval pipeline (bench.data.loader); both
input paths execute the same op list, and `str(pipeline)` is what the report's
protocol card prints. `parse("resize(384, bicubic)|normalize(imagenet)")`
reads one back, checking names and arguments.
"""

from __future__ import annotations

import ast
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from bench.errors import choices

METHODS = ("bilinear", "bicubic", "nearest")
NORMS = {  # named per-channel (mean, std) of pixels in [0, 1]
    "vit": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # to [-1, 1], as the official ViT code; timm's "inception"
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
OPS: dict[str, type[Op]] = {}


def register(cls: type[Op]) -> type[Op]:
    OPS[cls.name] = cls
    return cls


def _interp(method: str):
    from torchvision.transforms import InterpolationMode

    return InterpolationMode(method)


def _is_tensor(img: Any) -> bool:
    return isinstance(img, torch.Tensor)


@dataclass(frozen=True)
class Op:
    name: ClassVar[str] = ""
    batched: ClassVar[bool] = True  # has a batch form (the in-memory path can run it)

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
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@register
@dataclass(frozen=True)
class Normalize(Op):
    """Pixels x in [0, 255] to (x / 255 - mean) / std, per channel; ends the uint8 / PIL stage."""

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
    pad: int = 4
    mode: str = "edge"

    def example(self, img):
        from torchvision import transforms as T

        size = tuple(img.shape[-2:]) if _is_tensor(img) else img.size[::-1]
        return T.RandomCrop(size, padding=self.pad, padding_mode=self.mode)(img)

    def batch(self, x, generator):
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

    def example(self, img):
        from torchvision import transforms as T

        return T.RandomHorizontalFlip()(img)

    def batch(self, x, generator):
        flip = torch.rand(x.shape[0], generator=generator).to(x.device) < 0.5
        return torch.where(flip[:, None, None, None], x.flip(3), x)


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
    """Random crop of `area_min`..100% of the image, aspect 3/4..4/3, resized to size x size."""

    name: ClassVar[str] = "inception_crop"
    batched: ClassVar[bool] = False
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
    """AutoAugment (Cubuk et al. 2019) with torchvision's policy of that name."""

    name: ClassVar[str] = "autoaugment"
    batched: ClassVar[bool] = False
    policy: str = "imagenet"

    def example(self, img):
        from torchvision import transforms as T

        return T.AutoAugment(T.AutoAugmentPolicy(self.policy))(img)


CHOICES = {"method": METHODS, "mode": ("edge", "reflect"), "policy": ("cifar10", "imagenet", "svhn")}
RANGES = {"size": (1, 8192), "pad": (0, 64), "area_min": (0.01, 1.0)}


@dataclass(frozen=True)
class Pipeline:
    """An ordered op list; `str()` is its `op|op|...` form."""

    ops: tuple[Op, ...]

    def __str__(self) -> str:
        return "|".join(str(op) for op in self.ops)

    def __iter__(self):
        return iter(self.ops)

    @property
    def batched(self) -> bool:
        return all(op.batched for op in self.ops)

    def out_size(self, size: int | None = None) -> int | None:
        for op in self.ops:
            size = op.out_size(size)
        return size

    def example(self, img) -> torch.Tensor:
        for op in self.ops:
            img = op.example(img)
        return img

    def batch(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for op in self.ops:
            x = op.batch(x, generator)
        return x.contiguous()


def make(name: str, *args: Any, **kwargs: Any) -> Op:
    """One op from its name and arguments, each checked; ValueError names what is wrong."""
    if name not in OPS:
        raise ValueError(f"unknown op {name!r}; {choices(name, OPS)}")
    cls = OPS[name]
    fields = [f.name for f in dataclasses.fields(cls)]
    if name == "normalize" and len(args) == 1 and isinstance(args[0], str):
        if args[0] not in NORMS:
            raise ValueError(f"normalize: unknown preset {args[0]!r}; {choices(args[0], NORMS)}")
        args = NORMS[args[0]]
    if len(args) > len(fields):
        raise ValueError(f"{name}: at most {len(fields)} arguments ({', '.join(fields) or 'none'})")
    values = dict(zip(fields, args))
    for key, value in kwargs.items():
        if key not in fields:
            raise ValueError(f"{name}: unknown argument {key!r}; {choices(key, fields)}")
        if key in values:
            raise ValueError(f"{name}: argument {key!r} given twice")
        values[key] = value
    for key, value in values.items():
        default = next(f.default for f in dataclasses.fields(cls) if f.name == key)
        values[key] = _coerce(name, key, value, default)
    return cls(**values)


def _coerce(op: str, key: str, value: Any, default: Any) -> Any:
    where = f"{op}: {key}"
    if isinstance(default, tuple):
        if not isinstance(value, (tuple, list)) or len(value) not in (1, 3) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
            raise ValueError(f"{where}: expected 1 or 3 numbers, got {value!r}")
        if key == "std" and not all(v > 0 for v in value):
            raise ValueError(f"{where}: must be positive, got {value!r}")
        return tuple(float(v) for v in value)
    if isinstance(default, bool) or isinstance(value, bool):
        raise ValueError(f"{where}: unexpected {value!r}")
    if isinstance(default, int):
        if not isinstance(value, int):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
    elif isinstance(default, float):
        if not isinstance(value, (int, float)):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        value = float(value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a name, got {value!r}")
        if key in CHOICES and value not in CHOICES[key]:
            raise ValueError(f"{where}: unknown {key} {value!r}; {choices(value, CHOICES[key])}")
    if key in RANGES and not RANGES[key][0] <= value <= RANGES[key][1]:
        raise ValueError(f"{where}: must lie in [{RANGES[key][0]}, {RANGES[key][1]}], got {value}")
    return value


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Name):  # bare words are names: bicubic, imagenet, reflect
        return node.id
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(_literal(v) for v in node.elts)
    return ast.literal_eval(node)


def parse(text: str) -> Pipeline:
    """`op(args)|op|...` -> Pipeline; ValueError names the op and argument at fault."""
    ops = []
    for part in text.split("|"):
        part = part.strip()
        if not part:
            raise ValueError(f"empty op in {text!r}")
        try:
            node = ast.parse(part if "(" in part else part + "()", mode="eval").body
        except SyntaxError:
            raise ValueError(f"cannot read op {part!r}: expected name(arg, ...)") from None
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            raise ValueError(f"cannot read op {part!r}: expected name(arg, ...)")
        try:
            args = [_literal(a) for a in node.args]
            kwargs = {k.arg: _literal(k.value) for k in node.keywords}
        except ValueError:
            raise ValueError(f"{part!r}: arguments must be numbers, names or tuples") from None
        ops.append(make(node.func.id, *args, **kwargs))
    return Pipeline(tuple(ops))
