"""center_crop: the central square of a given side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.pp.core import Op, register, size_arg


@register
@dataclass(frozen=True)
class CenterCrop(Op):
    """The central size x size square."""

    name: ClassVar[str] = "center_crop"
    batched: ClassVar[bool] = False
    size: int = size_arg(224)

    def example(self, img):
        from torchvision import transforms as T

        return T.CenterCrop(self.size)(img)

    def out_size(self, size):
        return self.size
