"""The streaming input path, for datasets that do not fit in memory or need per-example ops.

Each example is read by index from `tfds.data_source` (array_record random
access), decoded to a PIL image and run through the pipeline's per-example
forms (bench/pp's ops) in DataLoader workers, with pinned memory and
prefetching when training on CUDA.

Host memory: the workers stop before `normalize` and ship 8-bit CHW pixels
(Pipeline.split_for_device; the device normalises), and collate pieces of at
most PIECE examples, which the feed joins into the global batch on the device:
what waits in host memory is workers x 2 pieces of uint8, not workers x 4
global float32 batches (benchmarks/loader_memory.py measures it).

The data order and every example's augmentation are functions of (run seed,
epoch, position) alone: each epoch's permutation is drawn from its own seed,
and each example is transformed under its own seed (with the process's RNG
saved and restored around it). So a seed fixes the run's data whatever the
number of workers, and a run resumed at step k sees exactly the batches an
uninterrupted run sees from step k.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.pp.grammar import Pipeline
from bench.data.spec import DataSpec, Feed, source
from bench.errors import BenchError


def _pil(array: Any, image_fix: str | None = None) -> Image.Image:
    """A decoded TFDS image as RGB (one channel tiled to three, as VTAB's code does)."""
    a = np.asarray(array)
    if image_fix == "tile3_x255":  # dSprites stores pixels as {0, 1}
        a = (a * 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    return Image.fromarray(a).convert("RGB")


class SourceDataset(torch.utils.data.Dataset):
    """One TFDS split by index: (transformed image, label or multi-hot label set).

    A key is an index, or (index, seed): the example's transform then runs under that seed.
    """

    def __init__(self, spec: DataSpec, split: str, data_dir: str | Path, transform):
        self.spec, self.transform = spec, transform
        self.source = source(spec, split, data_dir)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key):
        i, seed = key if isinstance(key, tuple) else (key, None)
        record = self.source[i]
        label = self.spec.label(record)
        if self.spec.multilabel:
            hot = torch.zeros(self.spec.num_classes, dtype=torch.bool)
            hot[label] = True
            label = hot
        image = _pil(record[self.spec.image_key], self.spec.image_fix)
        if seed is None:
            return self.transform(image), label
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.transform(image), label


PIECE = 64  # most examples the workers collate at once (one global batch is several pieces)


def _pixels(img) -> torch.Tensor:
    """A PIL image (or an 8-bit CHW tensor) as an 8-bit CHW tensor."""
    if isinstance(img, torch.Tensor):
        return img
    a = np.array(img, dtype=np.uint8)  # a writable copy
    return torch.from_numpy(a[:, :, None] if a.ndim == 2 else a).permute(2, 0, 1).contiguous()


class EpochBatches(torch.utils.data.Sampler):
    """Endless batches of (index, example seed), epoch after epoch, from batch `start` on.

    Epoch e's order is a permutation drawn from seed (run seed, e); the ragged tail is dropped.
    Each batch (this rank's share of it) comes as consecutive pieces of at most `piece` examples.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start: int = 0, rank: int = 0, world: int = 1,
                 piece: int | None = None):
        self.n, self.batch_size, self.seed, self.start = n, batch_size, seed, start
        self.piece = piece or batch_size
        self.rank, self.world = rank, world  # distributed: this rank's slice of each global batch
        self.per_epoch = n // batch_size

    def __iter__(self):
        epoch, offset = divmod(self.start, self.per_epoch)
        while True:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            for b in range(offset, self.per_epoch):
                idx = order[b * self.batch_size:(b + 1) * self.batch_size]
                share = len(idx) // self.world
                idx = idx[self.rank * share:(self.rank + 1) * share]
                keyed = [(int(i), int(np.random.SeedSequence([self.seed, epoch, int(i)]).generate_state(1)[0]))
                         for i in idx]
                for k in range(0, len(keyed), self.piece):
                    yield keyed[k:k + self.piece]
            epoch, offset = epoch + 1, 0

    def pieces(self) -> int:
        """Pieces per batch."""
        return -(-(self.batch_size // self.world) // self.piece)


def _workers() -> int:
    """DataLoader worker processes: BENCH_DATA_WORKERS, else one per spare core (at most 8).

    None when TensorFlow is loaded in this process (a notebook or test that also
    prepared data): forking after TensorFlow's threads start crashes the workers.
    Training stages never import TensorFlow (tfds.data_source does not need it).
    """
    if "BENCH_DATA_WORKERS" in os.environ:
        return int(os.environ["BENCH_DATA_WORKERS"])
    if "tensorflow" in sys.modules:
        return 0
    return min(8, max(0, (os.cpu_count() or 1) - 1))


def _loader(dataset, device: str, batch_size: int | None = None, batch_sampler=None):
    workers = _workers()
    batching = {"batch_sampler": batch_sampler} if batch_sampler is not None else {"batch_size": batch_size}
    return torch.utils.data.DataLoader(
        dataset, **batching, num_workers=workers, pin_memory=device.startswith("cuda"),
        # Two batches in flight per worker (8 workers x 4 held 32 global batches, 140 GB for EfficientNet-b7
        # at 600 px); the workers end when the feed is closed (the loop closes the training feed before
        # evaluating) or collected.
        persistent_workers=workers > 0, prefetch_factor=2 if workers > 0 else None)


def stream_train(spec: DataSpec, split: str, pipeline: Pipeline, batch_size: int, data_dir: str | Path,
                 seed: int, device: str, start: int = 0, rank: int = 0, world: int = 1) -> Feed:
    """Training batches from step `start` on (resuming), a pure function of the run's seed."""
    workers, on_device = pipeline.split_for_device()
    dataset = SourceDataset(spec, split, data_dir, _worker_transform(workers, on_device))
    if len(dataset) < batch_size:
        raise BenchError(f"batch size {batch_size} is larger than {spec.name}:{split} ({len(dataset)} examples)")
    sampler = EpochBatches(len(dataset), batch_size, seed, start, rank, world, piece=PIECE)
    loader = _loader(dataset, device, batch_sampler=sampler)
    pieces = sampler.pieces()

    def gen():
        it = iter(loader)
        while True:
            parts = [next(it) for _ in range(pieces)]
            x = torch.cat([x.to(device, non_blocking=True) for x, _ in parts]) if pieces > 1 else \
                parts[0][0].to(device, non_blocking=True)
            y = torch.cat([y for _, y in parts]).to(device, non_blocking=True)
            yield on_device.batch(x) if on_device.ops else x, y

    return Feed(gen(), len(dataset), spec.num_classes, 3, sharded=world > 1)


def _worker_transform(workers: Pipeline, on_device: Pipeline):
    """What a worker runs on one example: the whole pipeline, or (when the device normalises) the ops
    before `normalize`, then the pixels as an 8-bit tensor."""
    if not on_device.ops:
        return workers.example
    return _PixelsAfter(workers)


class _PixelsAfter:
    """A picklable worker transform: `pipeline.example`, then 8-bit CHW pixels."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline

    def __call__(self, img) -> torch.Tensor:
        return _pixels(self.pipeline.example(img))


def stream_eval(spec: DataSpec, split: str, pipeline: Pipeline, batch_size: int, data_dir: str | Path,
                device: str, rank: int = 0, world: int = 1) -> Feed:
    """Evaluation batches; distributed: every world-th example from `rank`, `size` the whole split's."""
    workers, on_device = pipeline.split_for_device()
    dataset = SourceDataset(spec, split, data_dir, _worker_transform(workers, on_device))
    size = len(dataset)
    if world > 1:
        dataset = torch.utils.data.Subset(dataset, range(rank, len(dataset), world))
    loader = _loader(dataset, device, batch_size=batch_size)

    def gen():
        for x, y in loader:
            x = x.to(device, non_blocking=True)
            yield (on_device.batch(x) if on_device.ops else x), y

    return Feed(gen(), size, spec.num_classes, 3)
