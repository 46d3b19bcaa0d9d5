"""How to read one dataset (its TFDS builder, keys, classes and label rule) and what the loop gets back.

Both input paths (bench.data.memory, bench.data.stream) read splits through
`source()` (`tfds.data_source`: array_record random access, no TensorFlow)
and return a `Feed`. VTAB-1k tasks map each example to a class with the
task's rule from bench.tables.vtab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from bench.errors import BenchError
from bench.tables.recipe import Dataset

SMALL_SIDE = 64  # images at most this large (fixed shape) can be held in memory


@dataclass
class DataSpec:
    """How to read one dataset: feature keys, classes and the label rule."""

    name: str
    image_key: str
    label_key: str
    num_classes: int
    multilabel: bool  # ImageNet ReaL: a set of labels per image
    label_fn: Callable[[dict], int] | None
    fixed_shape: tuple[int, ...] | None
    image_fix: str | None = None  # VTAB: "tile3" / "tile3_x255" for one-channel images (dSprites, smallNORB)

    def label(self, record: dict) -> Any:
        if self.label_fn is not None:
            return int(self.label_fn(record))
        value = record[self.label_key]
        return [int(v) for v in np.asarray(value).ravel()] if self.multilabel else int(value)

    @property
    def small(self) -> bool:
        """Small fixed-size images with plain labels: the in-memory path can hold them."""
        return (self.fixed_shape is not None and max(self.fixed_shape[:2]) <= SMALL_SIDE and not self.multilabel
                and self.image_fix is None)


@dataclass
class Feed:
    """What the loop needs from a split: batches on the device, sizes, and its position (for resuming)."""

    batches: Iterator[tuple[torch.Tensor, torch.Tensor]]
    size: int
    num_classes: int
    in_chans: int
    state: Callable[[], Any] | None = None  # what restores the position (in-memory data)
    restore: Callable[[Any], None] | None = None
    sharded: bool = False  # distributed: batches are already this rank's share


def _builder(name: str, data_dir: str | Path):
    import tensorflow_datasets as tfds

    from bench.data.builders import register

    register()
    try:
        builder = tfds.builder(name, data_dir=str(data_dir))
    except Exception as exc:  # tfds raises several types for unknown or unbuilt data
        raise BenchError(f"dataset {name!r}: {exc}") from None
    if not builder.is_prepared():
        raise BenchError(f"dataset {name!r} is not prepared under {data_dir}; run `bench prepare` "
                         "(DVC stage `prepare`; after adding manual data: `dvc repro --force prepare`)")
    return builder


def data_spec(dataset: Dataset | str, data_dir: str | Path) -> DataSpec:
    """The spec of a dataset of a plan, or of a TFDS name (extra evaluations)."""
    name, task_name = (dataset, None) if isinstance(dataset, str) else (dataset.name, dataset.vtab)
    builder = _builder(name, data_dir)
    if task_name:
        from bench.tables.vtab import TASKS

        task = TASKS[task_name]
        shape = builder.info.features[task.image_key].shape
        return DataSpec(name, task.image_key, "", task.num_classes, False, task.label,
                        tuple(shape) if None not in shape else None, task.image_fix)
    keys = builder.info.supervised_keys
    if not keys and {"image", "label"} <= set(builder.info.features):  # e.g. dtd declares none
        keys = ("image", "label")
    if not keys or len(keys) < 2:
        raise BenchError(f"dataset {name}: no supervised (image, label) keys")
    image_key, label_key = keys[0], keys[1]
    feature = builder.info.features[label_key]
    multilabel = hasattr(feature, "feature")  # tfds.features.Sequence(ClassLabel)
    num_classes = (feature.feature if multilabel else feature).num_classes
    shape = builder.info.features[image_key].shape
    return DataSpec(name, image_key, label_key, num_classes, multilabel, None,
                    tuple(shape) if None not in shape else None)


def source(spec: DataSpec, split: str, data_dir: str | Path):
    import tensorflow_datasets as tfds

    try:
        return tfds.data_source(spec.name, split=split, data_dir=str(data_dir))
    except Exception as exc:
        raise BenchError(f"dataset {spec.name!r}: cannot read split {split!r}: {exc}") from None
