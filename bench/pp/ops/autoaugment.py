"""autoaugment: torchvision's AutoAugment policies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.pp.core import Op, arg, register


@register
@dataclass(frozen=True)
class AutoAugment(Op):
    """AutoAugment (Cubuk et al. 2019) with torchvision's policy of that name; `fill`: the grey level of
    pixels that rotations and shifts uncover. google-research/sam's own policy and constants: `sam_autoaugment`."""

    name: ClassVar[str] = "autoaugment"
    batched: ClassVar[bool] = False
    random: ClassVar[bool] = True
    policy: str = arg("imagenet", choices=("cifar10", "imagenet", "svhn"))
    fill: int = arg(0, lo=0, hi=255)

    def example(self, img):
        from torchvision import transforms as T

        return T.AutoAugment(T.AutoAugmentPolicy(self.policy), fill=[self.fill] * 3 if self.fill else None)(img)
