"""random_crop: a random square of a given side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.pp.core import Op, register, size_arg


@register
@dataclass(frozen=True)
class RandomCrop(Op):
    """A random size x size square (BiT's fine-tuning crop, after resizing to a larger square)."""

    name: ClassVar[str] = "random_crop"
    batched: ClassVar[bool] = False
    random: ClassVar[bool] = True
    size: int = size_arg(224)

    def example(self, img):
        from torchvision import transforms as T

        return T.RandomCrop(self.size)(img)

    def out_size(self, size):
        return self.size
