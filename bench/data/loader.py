"""From a plan's dataset and recipe to training and evaluation batches: pipelines, then a path.

    pipelines(recipe, spec)   -> the train and eval op lists (bench.data.ops) the run executes
    train_feed / eval_feed    -> a Feed from the in-memory path (small fixed-size images whose ops
                                 all have batched forms) or else the streaming path

The recipe's augmentation, normalisation, resolution and evaluation crop
resolve to the op lists below; the report prints them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bench.data import memory
from bench.data.ops import (
    AutoAugment,
    CenterCrop,
    FlipLR,
    InceptionCrop,
    Normalize,
    PadCrop,
    Pipeline,
    Resize,
    ResizeShort,
)
from bench.data.spec import DataSpec, Feed
from bench.data.stream import stream_eval, stream_train
from bench.errors import BenchError
from bench.recipe import Dataset, Recipe


def device_augmentable(recipe: Recipe) -> bool:
    """No crop of variable-size images and no AutoAugment: every op has a batched form."""
    return recipe.augmentation.crop == "none" and recipe.augmentation.autoaugment is None


def in_memory(spec: DataSpec, recipe: Recipe) -> bool:
    return spec.small and device_augmentable(recipe)


def pipelines(recipe: Recipe, memory_path: bool) -> tuple[Pipeline, Pipeline]:
    """(train, eval) pipelines of a recipe.

    On the in-memory path images are normalised first and resized last, on the device;
    on the streaming path they are cropped or resized as PIL images and normalised last.
    """
    aug, res = recipe.augmentation, recipe.resolution
    norm = Normalize(recipe.normalize.mean, recipe.normalize.std)
    shift = [PadCrop(aug.shift, "edge")] if aug.shift else []
    flip = [FlipLR()] if aug.hflip else []
    if memory_path:
        return (Pipeline((norm, *shift, *flip, Resize(res))), Pipeline((norm, Resize(res))))
    if recipe.eval_crop_pct >= 1.0:
        evaluate = [Resize(res)]
    else:
        evaluate = [ResizeShort(int(res / recipe.eval_crop_pct)), CenterCrop(res)]
    crop = [InceptionCrop(res, 0.05)] if aug.crop == "inception" else evaluate
    auto = [AutoAugment(aug.autoaugment)] if aug.autoaugment else []
    return Pipeline((*crop, *shift, *flip, *auto, norm)), Pipeline((*evaluate, norm))


def train_feed(spec: DataSpec, split: str, dataset: Dataset, recipe: Recipe, data_dir: str | Path,
               generator: torch.Generator, device: str, holdout: float = 0.0, seed: int = 0,
               start: int = 0, rank: int = 0, world: int = 1) -> tuple[Feed, Feed | None]:
    """Endless augmented training batches; with `holdout`, also the held-out tail as an eval feed.

    `start`: the step a resumed run starts at (streaming data skip to it; in-memory data are
    restored from the saved state by the caller through `Feed.restore`).
    """
    train_ops, eval_ops = pipelines(recipe, in_memory(spec, recipe))
    if in_memory(spec, recipe):
        data = memory.load_split(spec, split, data_dir)
        data.labels = memory.add_label_noise(data.labels, data.num_classes, dataset.label_noise,
                                             dataset.noise_seed)
        held = None
        if holdout > 0:
            cut = len(data.labels) - int(round(holdout * len(data.labels)))
            data, held = data.part(slice(None, cut)), data.part(slice(cut, None))
        feed = memory.memory_train(data, train_ops, recipe.batch_size, generator, device)
        held_feed = None
        if held is not None:
            held_feed = memory.memory_eval(held, eval_ops, recipe.eval_batch_size, device, rank, world)
        return feed, held_feed
    if dataset.label_noise > 0 or holdout > 0:
        raise BenchError(f"dataset {spec.name}: label noise and fraction hold-outs need an in-memory dataset; "
                         "use a held-out split string (sweep splits) instead")
    return stream_train(spec, split, train_ops, recipe.batch_size, data_dir, seed, device, start, rank,
                        world), None


def eval_feed(spec: DataSpec, split: str, recipe: Recipe, data_dir: str | Path, device: str,
              rank: int = 0, world: int = 1) -> Feed:
    """Batches of the evaluation split; labels stay on the CPU (multi-hot for ReaL).

    Distributed: this rank's share (every world-th example); `size` stays the whole split's.
    """
    memory_path = in_memory(spec, recipe)
    _, eval_ops = pipelines(recipe, memory_path)
    if memory_path:
        data = memory.load_split(spec, split, data_dir)
        return memory.memory_eval(data, eval_ops, recipe.eval_batch_size, device, rank, world)
    return stream_eval(spec, split, eval_ops, recipe.eval_batch_size, data_dir, device, rank, world)

