"""flip_lr: a random horizontal flip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.pp.core import Op, register


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
