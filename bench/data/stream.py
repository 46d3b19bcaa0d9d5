"""Streaming input for datasets that do not fit the in-memory path.

Each example is read by index from `tfds.data_source` (array_record random
access), decoded to a PIL image and transformed by torchvision in DataLoader
workers, with pinned memory and prefetching when training on CUDA:

  train: [Inception crop (area 5-100%, the official ViT fine-tuning crop) or
          the evaluation resize] -> [horizontal flip] -> [AutoAugment]
          -> tensor -> normalise
  eval:  resize (to resolution / crop_pct, then centre crop) -> tensor -> normalise

The data order comes from a torch.Generator seeded by the run's seed, and each
worker's augmentation randomness from DataLoader's per-worker seeds drawn from
the same generator, so a seed fixes the run's data.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.data.loader import DataSpec, Feed, source


def _pil(array: Any, image_fix: str | None = None) -> Image.Image:
    """A decoded TFDS image as RGB (one channel tiled to three, as VTAB's code does)."""
    a = np.asarray(array)
    if image_fix == "tile3_x255":  # dSprites stores pixels as {0, 1}
        a = (a * 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    return Image.fromarray(a).convert("RGB")


def train_transform(recipe: dict[str, Any]):
    from torchvision import transforms as T

    aug, res = recipe["augmentation"], recipe["resolution"]
    # No crop: the evaluation resize (and centre crop), so training sees what evaluation sees.
    ops = [T.RandomResizedCrop(res, scale=(0.05, 1.0))] if aug["crop"] == "inception" else _resize(recipe)
    if aug["hflip"]:
        ops.append(T.RandomHorizontalFlip())
    if aug["autoaugment"]:
        ops.append(T.AutoAugment(T.AutoAugmentPolicy(aug["autoaugment"])))
    ops += [T.ToTensor(), T.Normalize(recipe["normalize"]["mean"], recipe["normalize"]["std"])]
    return T.Compose(ops)


def _resize(recipe: dict[str, Any]) -> list:
    from torchvision import transforms as T

    res, crop_pct = recipe["resolution"], recipe["eval_crop_pct"]
    return [T.Resize((res, res))] if crop_pct >= 1.0 else [T.Resize(int(res / crop_pct)), T.CenterCrop(res)]


def eval_transform(recipe: dict[str, Any]):
    from torchvision import transforms as T

    return T.Compose([*_resize(recipe), T.ToTensor(),
                      T.Normalize(recipe["normalize"]["mean"], recipe["normalize"]["std"])])


class SourceDataset(torch.utils.data.Dataset):
    """One TFDS split by index: (transformed image, label or multi-hot label set)."""

    def __init__(self, spec: DataSpec, split: str, data_dir: str | Path, transform):
        self.spec, self.transform = spec, transform
        self.source = source(spec, split, data_dir)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int):
        record = self.source[i]
        label = self.spec.label(record)
        if self.spec.multilabel:
            hot = torch.zeros(self.spec.num_classes, dtype=torch.bool)
            hot[label] = True
            label = hot
        return self.transform(_pil(record[self.spec.image_key], self.spec.image_fix)), label


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


def _loader(dataset, batch_size: int, shuffle: bool, generator, device: str, drop_last: bool):
    workers = _workers()
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last,
        num_workers=workers, pin_memory=device.startswith("cuda"), persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None)


def stream_train(spec: DataSpec, split: str, recipe: dict[str, Any], data_dir: str | Path,
                 generator: torch.Generator, device: str) -> Feed:
    dataset = SourceDataset(spec, split, data_dir, train_transform(recipe))
    if len(dataset) < recipe["batch_size"]:
        from bench.errors import BenchError

        raise BenchError(f"batch size {recipe['batch_size']} is larger than {spec.name}:{split} "
                         f"({len(dataset)} examples)")
    loader = _loader(dataset, recipe["batch_size"], True, generator, device, drop_last=True)

    def gen():
        while True:  # epoch after epoch; each epoch reshuffles from the generator
            for x, y in loader:
                yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    return Feed(gen(), len(dataset), spec.num_classes, 3)


def stream_eval(spec: DataSpec, split: str, recipe: dict[str, Any], data_dir: str | Path, device: str) -> Feed:
    dataset = SourceDataset(spec, split, data_dir, eval_transform(recipe))
    loader = _loader(dataset, recipe["eval_batch_size"], False, None, device, drop_last=False)
    return Feed(((x.to(device, non_blocking=True), y) for x, y in loader), len(dataset), spec.num_classes, 3)
