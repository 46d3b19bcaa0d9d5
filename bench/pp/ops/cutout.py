"""cutout: zero a random square (DeVries & Taylor 2017), per image or, as the SAM code, per batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.pp.core import Op, arg, is_tensor, register, size_arg


@register
@dataclass(frozen=True)
class Cutout(Op):
    """Cutout (DeVries & Taylor 2017, arXiv:1708.04552): zero a size x size square whose centre is uniform
    over the image, clipped at the border (rows [y - size//2, y + size//2), as the paper's code does). Before
    `normalize` zero is a black pixel; after it, the channel mean (the paper's code masks the normalised
    tensor). per=image: a square per image (the Cutout paper); per=batch: one square for the whole batch, as
    the SAM code applies it (sam_jax/datasets/augmentation.py@dae9904:102-136, after batching), which only the
    batched (in-memory) path can run. Where it goes in the pipeline is the recipe's choice, with its source."""

    name: ClassVar[str] = "cutout"
    random: ClassVar[bool] = True
    exact_on_pixels: ClassVar[bool] = True
    size: int = size_arg(16)
    per: str = arg("image", choices=("image", "batch"))

    def example(self, img):
        import numpy as np
        import torch
        from PIL import Image

        if self.per == "batch":
            from bench.errors import BenchError

            raise BenchError("cutout(per=batch) draws one square per batch: it needs the batched (in-memory) "
                             "input path, which this dataset or pipeline does not take")
        tensor = is_tensor(img)
        h, w = tuple(img.shape[-2:]) if tensor else img.size[::-1]
        y, x = int(torch.randint(h, ())), int(torch.randint(w, ()))
        half = self.size // 2
        y0, y1, x0, x1 = max(0, y - half), min(h, y + half), max(0, x - half), min(w, x + half)
        if tensor:
            out = img.clone()
            out[..., y0:y1, x0:x1] = 0
            return out
        a = np.array(img)
        a[y0:y1, x0:x1] = 0
        return Image.fromarray(a)

    def batch(self, x, generator):
        import torch

        n, _, h, w = x.shape
        draws = 1 if self.per == "batch" else n
        ys = torch.randint(h, (draws,), generator=generator).to(x.device).expand(n)
        xs = torch.randint(w, (draws,), generator=generator).to(x.device).expand(n)
        half = self.size // 2
        rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
        in_y = (rows[None, :] >= ys[:, None] - half) & (rows[None, :] < ys[:, None] + half)
        in_x = (cols[None, :] >= xs[:, None] - half) & (cols[None, :] < xs[:, None] + half)
        return x.masked_fill((in_y[:, :, None] & in_x[:, None, :])[:, None], 0)
