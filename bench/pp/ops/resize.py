"""resize: the whole image to a square (aspect ratio not kept)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.pp.core import Op, interp, method_arg, register, size_arg


@register
@dataclass(frozen=True)
class Resize(Op):
    """Resize the whole image to size x size (aspect ratio not kept, nothing cropped)."""

    name: ClassVar[str] = "resize"
    size: int = size_arg(224)
    method: str = method_arg()

    def example(self, img):
        from torchvision import transforms as T

        return T.Resize((self.size, self.size), interpolation=interp(self.method))(img)

    def batch(self, x, generator):
        import torch.nn.functional as F

        if x.shape[-1] == self.size and x.shape[-2] == self.size:
            return x
        return F.interpolate(x.float(), size=(self.size, self.size), mode=self.method, align_corners=False,
                             antialias=self.method != "nearest")

    def out_size(self, size):
        return self.size
