"""inception_crop: a random crop of part of the image area, resized to a square (RandomResizedCrop)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.pp.core import Op, arg, interp, method_arg, register, size_arg


@register
@dataclass(frozen=True)
class InceptionCrop(Op):
    """Random crop of `area_min`..100% of the image area, aspect 3/4..4/3, resized to size x size.

    area_min 0.05: the ViT fine-tuning crop (vit_jax input_pipeline.py@a4920ed:97); 0.1: the SAM code's
    (dataset_source_imagenet.py@dae9904:125-127: area_range 0.08-1, but min_object_covered 0.1 of the
    whole-image box keeps only crops of at least 10%). torchvision's RandomResizedCrop: 10 tries, then a
    centre crop.
    """

    name: ClassVar[str] = "inception_crop"
    batched: ClassVar[bool] = False
    random: ClassVar[bool] = True
    size: int = size_arg(224)
    area_min: float = arg(0.05, lo=0.01, hi=1.0)
    method: str = method_arg()

    def example(self, img):
        from torchvision import transforms as T

        return T.RandomResizedCrop(self.size, scale=(self.area_min, 1.0), interpolation=interp(self.method))(img)

    def out_size(self, size):
        return self.size
