"""What every op shares: the Op base class, argument declarations and the registry they register in.

An op is one module of bench/pp/ops: a frozen dataclass, subclass of Op, decorated
with @register, whose fields are its arguments, each declared with `arg()`
(default, range, choices, extra check) right beside the code that uses it.
bench.pp.grammar checks arguments generically from these declarations.
bench.pp.ops.registry() imports every op module, so a new file bench/pp/ops/<op>.py
is all an op needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # parsing and printing pipelines (table files, `bench validate`) needs no torch
    import torch

SIZE = (1, 8192)  # the range of every side length in pixels
METHODS = ("bilinear", "bicubic", "nearest")  # interpolations: torchvision's InterpolationMode values


def arg(default: Any, *, lo: float | None = None, hi: float | None = None, choices: tuple[str, ...] = (),
        check: Callable[[Any], str | None] | None = None) -> Any:
    """An op argument: its default (whose annotation gives the type: int, float, a name (str), or a tuple of
    1 or 3 numbers), the closed range [lo, hi] it must lie in, the names it may take, and `check`: an extra
    rule, returning what is wrong (the message's tail) or None."""
    if (lo is None) != (hi is None):
        raise TypeError("arg(): give both lo and hi, or neither")
    return dataclasses.field(default=default, metadata={"range": None if lo is None else (lo, hi),
                                                        "choices": tuple(choices), "check": check})


def size_arg(default: int) -> Any:
    """A side length in pixels."""
    return arg(default, lo=SIZE[0], hi=SIZE[1])


def method_arg(default: str = "bilinear") -> Any:
    """An interpolation method (see `interp`)."""
    return arg(default, choices=METHODS)


def interp(name: str):
    """torchvision's InterpolationMode of a `method` argument."""
    from torchvision.transforms import InterpolationMode

    return InterpolationMode(name)


def is_tensor(img: Any) -> bool:
    import torch

    return isinstance(img, torch.Tensor)


def show(value: Any) -> str:
    """Arguments as `parse` reads them back exactly (floats in their shortest exact form)."""
    if isinstance(value, tuple):
        return "(" + ", ".join(show(v) for v in value) + ")"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class Op:
    """One pre-processing op, with up to two forms that compute the same thing:

    * `example(img)`: one example in a DataLoader worker (a PIL image before `normalize`, a float CHW tensor
      after it), randomness from torch's global RNG, which the streaming path seeds per example;
    * `batch(x, generator)`: a whole NCHW batch on the training device (uint8 0..255 before `normalize`,
      float after), randomness from the run's generator. Ops without it (crops of variable-size images,
      AutoAugment) make a dataset stream.

    `str(op)` is what the report's protocol card prints and what `parse` reads back."""

    name: ClassVar[str] = ""
    batched: ClassVar[bool] = True  # has a batch form (the in-memory path can run it)
    random: ClassVar[bool] = False  # draws random numbers (training augmentation only)
    # Exact on 8-bit pixels in both forms (indexing only). An op that is not (a resize) has its two forms agree
    # only after `normalize`: before it, the per-example form is PIL's 8-bit resize, which a batch cannot repeat.
    exact_on_pixels: ClassVar[bool] = False

    @classmethod
    def positional(cls, args: tuple) -> tuple:
        """The positional arguments as the fields take them (an op may read a shorthand, as normalize(vit))."""
        return args

    def example(self, img):
        raise NotImplementedError

    def batch(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def out_size(self, size: int | None) -> int | None:
        """The (square) output size given the input's, None when unknown."""
        return size

    def __str__(self) -> str:
        args = [show(getattr(self, f.name)) for f in dataclasses.fields(self)]
        return f"{self.name}({', '.join(args)})" if args else self.name


_OPS: dict[str, type[Op]] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: the op, by its `name`."""
    if not cls.name:
        raise TypeError(f"{cls.__qualname__}: an op needs a name")
    known = _OPS.get(cls.name)
    if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise TypeError(f"op {cls.name!r} registered twice: {known.__module__} and {cls.__module__}")
    _OPS[cls.name] = cls
    return cls


def registered() -> dict[str, type[Op]]:
    """The ops registered so far, by name (bench.pp.ops.registry() imports them all first)."""
    return dict(sorted(_OPS.items()))
