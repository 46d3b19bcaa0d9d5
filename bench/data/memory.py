"""The in-memory input path: a small dataset decoded once, batched and pre-processed on the device.

Datasets of small fixed-size images (the embedded digits) whose pipelines
have only batched ops are decoded once into one uint8 tensor; every batch is
drawn, moved to the training device and run through the pipeline's batched
forms there, with no per-example Python work inside the step. The data order
and the augmentation come from the run's generator alone.

The label-noise option of the harder embedded variants flips a fixed,
seed-independent subset of training labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.pp.grammar import Pipeline
from bench.data.spec import DataSpec, Feed, source
from bench.errors import BenchError


@dataclass
class ArraySplit:
    images: torch.Tensor  # uint8, N x C x H x W
    labels: torch.Tensor  # int64, N
    num_classes: int


def load_split(spec: DataSpec, split: str, data_dir: str | Path) -> ArraySplit:
    """Decode a whole split into memory (small images only)."""
    src = source(spec, split, data_dir)
    records = src.__getitems__(list(range(len(src))))
    images = np.stack([np.asarray(r[spec.image_key]) for r in records])
    if images.ndim == 3:
        images = images[..., None]
    # Keep TFDS's on-disk order independent: sort by the builder's stable index when present.
    if records and "index" in records[0]:
        order = np.argsort([int(r["index"]) for r in records], kind="stable")
        images, records = images[order], [records[i] for i in order]
    labels = np.array([spec.label(r) for r in records], dtype=np.int64)
    return ArraySplit(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels),
                      spec.num_classes)


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


class Batches:
    """Endless shuffled mini-batches over an in-memory split, epoch after epoch.

    The order comes from `generator` alone, so a seed fixes the data order;
    `state()` / `restore()` carry the position across a resumed run.
    """

    def __init__(self, split: ArraySplit, batch_size: int, generator: torch.Generator):
        if len(split.labels) < batch_size:
            raise BenchError(f"batch size {batch_size} is larger than the training split "
                             f"({len(split.labels)} examples)")
        self.split, self.batch_size, self.generator = split, batch_size, generator
        self.epoch, self._perm, self._pos = 0, torch.randperm(len(split.labels), generator=generator), 0

    def __iter__(self):
        return self

    def state(self) -> dict:
        return {"epoch": self.epoch, "perm": self._perm.clone(), "pos": self._pos}

    def restore(self, state: dict) -> None:
        self.epoch, self._perm, self._pos = state["epoch"], state["perm"], state["pos"]

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._pos + self.batch_size > len(self._perm):  # drop the ragged tail, reshuffle
            self.epoch += 1
            self._perm, self._pos = torch.randperm(len(self.split.labels), generator=self.generator), 0
        idx = self._perm[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return self.split.images[idx], self.split.labels[idx]


def memory_train(data: ArraySplit, pipeline: Pipeline, batch_size: int, generator: torch.Generator,
                 device: str) -> Feed:
    batches = Batches(data, batch_size, generator)

    def gen():
        for images, labels in batches:
            yield pipeline.batch(images.to(device), generator), labels.to(device)

    return Feed(gen(), len(data.labels), data.num_classes, data.images.shape[1], batches.state, batches.restore)


def memory_eval(data: ArraySplit, pipeline: Pipeline, batch_size: int, device: str, rank: int = 0,
                world: int = 1) -> Feed:
    """Evaluation batches; distributed: every world-th example from `rank`, `size` the whole split's."""
    size, chans = len(data.labels), data.images.shape[1]
    if world > 1:
        data = ArraySplit(data.images[rank::world], data.labels[rank::world], data.num_classes)

    def gen():
        for start in range(0, len(data.labels), batch_size):
            yield (pipeline.batch(data.images[start:start + batch_size].to(device)),
                   data.labels[start:start + batch_size])

    return Feed(gen(), size, data.num_classes, chans)
