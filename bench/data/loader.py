"""Read a TFDS split through `tfds.data_source` and feed it to training.

Two paths, one interface (`train_batches`, `eval_batches`):

* in memory: datasets of small fixed-size images (digits, CIFAR without
  AutoAugment or crops) are decoded once into one uint8 tensor and batched,
  resized, normalised and augmented on the training device, with no
  per-example Python work inside the step;
* streaming (bench.data.stream): everything else (JPEG datasets, crops,
  AutoAugment) is decoded and transformed per example by DataLoader workers.

The label-noise option of the harder embedded variants flips a fixed,
seed-independent subset of training labels. VTAB-1k tasks map each example
to a class with the task's rule from bench.data.vtab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from bench.errors import BenchError

SMALL_SIDE = 64  # images at most this large (fixed shape) are held in memory


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


@dataclass
class ArraySplit:
    images: torch.Tensor  # uint8, N x C x H x W
    labels: torch.Tensor  # int64, N
    num_classes: int


def _builder(name: str, data_dir: str | Path):
    import tensorflow_datasets as tfds

    import bench.data  # noqa: F401  (registers this project's builders)

    try:
        builder = tfds.builder(name, data_dir=str(data_dir))
    except Exception as exc:  # tfds raises several types for unknown or unbuilt data
        raise BenchError(f"dataset {name!r}: {exc}") from None
    if not builder.is_prepared():
        raise BenchError(f"dataset {name!r} is not prepared under {data_dir}; run `bench prepare` "
                         "(DVC stage `prepare`; after adding manual data: `dvc repro --force prepare`)")
    return builder


def data_spec(dataset: dict[str, Any], data_dir: str | Path) -> DataSpec:
    builder = _builder(dataset["name"], data_dir)
    if dataset.get("vtab"):
        from bench.data.vtab import TASKS

        task = TASKS[dataset["vtab"]]
        shape = builder.info.features[task.image_key].shape
        return DataSpec(dataset["name"], task.image_key, "", task.num_classes, False, task.label,
                        tuple(shape) if None not in shape else None, task.image_fix)
    keys = builder.info.supervised_keys
    if not keys and {"image", "label"} <= set(builder.info.features):  # e.g. dtd declares none
        keys = ("image", "label")
    if not keys or len(keys) < 2:
        raise BenchError(f"dataset {dataset['name']}: no supervised (image, label) keys")
    image_key, label_key = keys[0], keys[1]
    feature = builder.info.features[label_key]
    multilabel = hasattr(feature, "feature")  # tfds.features.Sequence(ClassLabel)
    num_classes = (feature.feature if multilabel else feature).num_classes
    shape = builder.info.features[image_key].shape
    return DataSpec(dataset["name"], image_key, label_key, num_classes, multilabel, None,
                    tuple(shape) if None not in shape else None)


def source(spec: DataSpec, split: str, data_dir: str | Path):
    import tensorflow_datasets as tfds

    try:
        return tfds.data_source(spec.name, split=split, data_dir=str(data_dir))
    except Exception as exc:
        raise BenchError(f"dataset {spec.name!r}: cannot read split {split!r}: {exc}") from None


def in_memory(spec: DataSpec, recipe: dict[str, Any]) -> bool:
    """Small fixed-shape images with device-side augmentation only."""
    aug = recipe["augmentation"]
    return (spec.fixed_shape is not None and max(spec.fixed_shape[:2]) <= SMALL_SIDE and not spec.multilabel
            and spec.image_fix is None and aug["crop"] == "none" and aug["autoaugment"] is None)


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


def normalise(images: torch.Tensor, norm: dict[str, list[float]]) -> torch.Tensor:
    """uint8 NCHW -> float: (x - 255 mean) / (255 std); mean = std = 0.5 maps pixels to [-1, 1]."""
    c = images.shape[1]
    mean = torch.tensor([m * 255.0 for m in norm["mean"]], device=images.device)
    std = torch.tensor([s * 255.0 for s in norm["std"]], device=images.device)
    if len(mean) != c:
        mean, std = mean[:1].expand(c), std[:1].expand(c)
    return images.float().sub_(mean[None, :, None, None]).div_(std[None, :, None, None])


def preprocess(images: torch.Tensor, resolution: int, shift: int = 0, hflip: bool = False,
               generator: torch.Generator | None = None, norm: dict[str, list[float]] | None = None) -> torch.Tensor:
    """uint8 NCHW -> normalised float at `resolution`, with optional random shift / flip.

    Random shift = pad by `shift` pixels (edge) and crop back at a random offset.
    """
    x = normalise(images, norm or {"mean": [0.5], "std": [0.5]})
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


def train_feed(spec: DataSpec, split: str, dataset: dict[str, Any], recipe: dict[str, Any], data_dir: str | Path,
               generator: torch.Generator, device: str, holdout: float = 0.0, seed: int = 0,
               start: int = 0, rank: int = 0, world: int = 1) -> tuple[Feed, Feed | None]:
    """Endless augmented training batches; with `holdout`, also the held-out tail as an eval feed.

    `start`: the step a resumed run starts at (streaming data skip to it; in-memory data are
    restored from the saved state by the caller through `Feed.restore`).
    """
    aug, norm, res = recipe["augmentation"], recipe["normalize"], recipe["resolution"]
    if in_memory(spec, recipe):
        data = load_split(spec, split, data_dir)
        data.labels = add_label_noise(data.labels, data.num_classes, dataset["label_noise"], dataset["noise_seed"])
        held = None
        if holdout > 0:
            cut = len(data.labels) - int(round(holdout * len(data.labels)))
            data, held = (ArraySplit(data.images[:cut], data.labels[:cut], data.num_classes),
                          ArraySplit(data.images[cut:], data.labels[cut:], data.num_classes))
        batches = Batches(data, recipe["batch_size"], generator)

        def gen():
            for images, labels in batches:
                yield (preprocess(images.to(device), res, aug["shift"], aug["hflip"], generator, norm),
                       labels.to(device))

        eval_feed = None
        if held is not None:
            eval_feed = Feed(_memory_eval(held, recipe, device, rank, world), len(held.labels), held.num_classes,
                             held.images.shape[1])
        return (Feed(gen(), len(data.labels), data.num_classes, data.images.shape[1], batches.state,
                     batches.restore), eval_feed)
    if dataset["label_noise"] > 0 or holdout > 0:
        raise BenchError(f"dataset {spec.name}: label noise and fraction hold-outs need an in-memory dataset; "
                         "use a held-out split string (sweep splits) instead")
    from bench.data.stream import stream_train

    return stream_train(spec, split, recipe, data_dir, seed, device, start, rank, world), None


def _memory_eval(data: ArraySplit, recipe: dict[str, Any], device: str, rank: int = 0, world: int = 1):
    if world > 1:
        data = ArraySplit(data.images[rank::world], data.labels[rank::world], data.num_classes)
    bs = recipe["eval_batch_size"]
    for start in range(0, len(data.labels), bs):
        yield (preprocess(data.images[start:start + bs].to(device), recipe["resolution"], norm=recipe["normalize"]),
               data.labels[start:start + bs])


def eval_feed(spec: DataSpec, split: str, recipe: dict[str, Any], data_dir: str | Path, device: str,
              rank: int = 0, world: int = 1) -> Feed:
    """Batches of the evaluation split; labels stay on the CPU (multi-hot for ReaL).

    Distributed: this rank's share (every world-th example); `size` stays the whole split's.
    """
    if in_memory(spec, recipe):
        data = load_split(spec, split, data_dir)
        return Feed(_memory_eval(data, recipe, device, rank, world), len(data.labels), data.num_classes,
                    data.images.shape[1])
    from bench.data.stream import stream_eval

    feed = stream_eval(spec, split, recipe, data_dir, device, rank, world)
    if world > 1:
        feed.size = len(source(spec, split, data_dir))
    return feed
