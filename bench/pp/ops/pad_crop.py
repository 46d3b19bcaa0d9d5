"""pad_crop: pad and crop back at a random offset (the CIFAR shift augmentation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.pp.core import Op, arg, is_tensor, register


@register
@dataclass(frozen=True)
class PadCrop(Op):
    """Pad by `pad` pixels (edge: repeat the border; reflect) and crop back at a random offset."""

    name: ClassVar[str] = "pad_crop"
    random: ClassVar[bool] = True
    exact_on_pixels: ClassVar[bool] = True
    pad: int = arg(4, lo=0, hi=64)
    mode: str = arg("edge", choices=("edge", "reflect"))

    def example(self, img):
        from torchvision import transforms as T

        size = tuple(img.shape[-2:]) if is_tensor(img) else img.size[::-1]
        return T.RandomCrop(size, padding=self.pad, padding_mode=self.mode)(img)

    def batch(self, x, generator):
        import torch
        import torch.nn.functional as F

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
