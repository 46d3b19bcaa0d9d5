"""Read a TFDS split through `tfds.data_source` and feed it to training.

Small-image datasets (digits, CIFAR) are decoded once into one uint8 tensor and
then batched, resized and augmented on the training device: no per-example
Python work inside the step. The label-noise option of the harder embedded
variants flips a fixed, seed-independent subset of training labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.errors import BenchError


@dataclass
class ArraySplit:
    images: torch.Tensor  # uint8, N x C x H x W
    labels: torch.Tensor  # int64, N
    num_classes: int


def _label_feature(builder) -> tuple[str, str]:
    keys = builder.info.supervised_keys
    if not keys:
        raise BenchError(f"dataset {builder.name}: no supervised (image, label) keys")
    return keys[0], keys[1]


def load_split(name: str, split: str, data_dir: str | Path) -> ArraySplit:
    """Decode a whole split into memory; raises BenchError if it is not prepared."""
    import tensorflow_datasets as tfds

    import bench.data  # noqa: F401  (registers this project's builders)

    try:
        builder = tfds.builder(name, data_dir=str(data_dir))
    except Exception as exc:  # tfds raises several types for unknown or unbuilt data
        raise BenchError(f"dataset {name!r}: {exc}") from None
    if not builder.is_prepared():
        raise BenchError(f"dataset {name!r} is not prepared under {data_dir}; run `bench prepare` (DVC stage `prepare`)")
    try:
        source = tfds.data_source(name, split=split, data_dir=str(data_dir))
    except Exception as exc:
        raise BenchError(f"dataset {name!r}: cannot read split {split!r}: {exc}") from None
    img_key, label_key = _label_feature(builder)
    records = source.__getitems__(list(range(len(source))))
    images = np.stack([np.asarray(r[img_key]) for r in records])
    if images.ndim == 3:
        images = images[..., None]
    # Keep TFDS's on-disk order independent: sort by the builder's stable index when present.
    if records and "index" in records[0]:
        order = np.argsort([int(r["index"]) for r in records], kind="stable")
        images, records = images[order], [records[i] for i in order]
    labels = np.array([int(r[label_key]) for r in records], dtype=np.int64)
    num_classes = builder.info.features[label_key].num_classes
    return ArraySplit(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels), num_classes)


def add_label_noise(labels: torch.Tensor, num_classes: int, fraction: float, noise_seed: int) -> torch.Tensor:
    """Symmetric noise: a fixed `fraction` of labels replaced by a different class."""
    if fraction <= 0:
        return labels
    rng = np.random.default_rng(noise_seed)
    n = len(labels)
    flip = rng.choice(n, size=int(round(fraction * n)), replace=False)
    offset = rng.integers(1, num_classes, size=len(flip))
    noisy = labels.clone()
    noisy[flip] = (labels[flip] + torch.from_numpy(offset)) % num_classes
    return noisy


def preprocess(images: torch.Tensor, resolution: int, shift: int = 0, hflip: bool = False,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """uint8 NCHW -> float in [-1, 1] at `resolution`, with optional random shift / flip.

    Normalisation (x - 127.5) / 127.5 as in the official ViT input pipeline.
    Random shift = pad by `shift` pixels (edge) and crop back at a random offset.
    """
    x = images.float().sub_(127.5).div_(127.5)
    if shift > 0:
        n, _, h, w = x.shape
        x = F.pad(x, (shift, shift, shift, shift), mode="replicate")
        dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator).to(x.device)
        dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # n x h
        cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # n x w
        idx_n = torch.arange(n, device=x.device)[:, None, None]
        x = x.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if hflip:
        flip = torch.rand(x.shape[0], generator=generator).to(x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)
    return x.contiguous()


class Batches:
    """Endless shuffled mini-batches over an in-memory split, epoch after epoch.

    The order comes from `generator` alone, so a seed fixes the data order.
    """

    def __init__(self, split: ArraySplit, batch_size: int, generator: torch.Generator):
        if len(split.labels) < batch_size:
            raise BenchError(f"batch size {batch_size} is larger than the training split ({len(split.labels)} examples)")
        self.split, self.batch_size, self.generator = split, batch_size, generator
        self.epoch, self._perm, self._pos = 0, torch.randperm(len(split.labels), generator=generator), 0

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._pos + self.batch_size > len(self._perm):  # drop the ragged tail, reshuffle
            self.epoch += 1
            self._perm, self._pos = torch.randperm(len(self.split.labels), generator=self.generator), 0
        idx = self._perm[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return self.split.images[idx], self.split.labels[idx]
