"""center_crop_frac: the central square of a fraction of the shorter side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.pp.core import Op, arg, is_tensor, register


@register
@dataclass(frozen=True)
class CenterCropFrac(Op):
    """The central square of side frac * min(height, width) (the SAM code crops 600/632 before resizing)."""

    name: ClassVar[str] = "center_crop_frac"
    batched: ClassVar[bool] = False
    frac: float = arg(0.875, lo=0.05, hi=1.0)

    def example(self, img):
        from torchvision.transforms import functional as TF

        h, w = (img.shape[-2:] if is_tensor(img) else img.size[::-1])
        side = int(round(self.frac * min(h, w)))
        return TF.center_crop(img, [side, side])

    def out_size(self, size):
        return None
