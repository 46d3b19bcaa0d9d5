"""resize_short: the shorter side to a length, keeping the aspect ratio."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.pp.core import Op, interp, method_arg, register, size_arg


@register
@dataclass(frozen=True)
class ResizeShort(Op):
    """Resize so that the shorter side is `size`, keeping the aspect ratio."""

    name: ClassVar[str] = "resize_short"
    batched: ClassVar[bool] = False
    size: int = size_arg(256)
    method: str = method_arg()

    def example(self, img):
        from torchvision import transforms as T

        return T.Resize(self.size, interpolation=interp(self.method))(img)

    def out_size(self, size):
        return None  # the longer side depends on the image
