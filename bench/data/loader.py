"""From a plan's dataset and recipe to training and evaluation batches.

    pipelines(recipe)         -> the train and eval op lists the recipe declares (recipe.preprocess)
    train_feed / eval_feed    -> a Feed from the in-memory path (small fixed-size images whose ops
                                 all have batched forms) or else the streaming path
"""

from __future__ import annotations

from pathlib import Path

import torch

from bench.data import memory
from bench.pp.grammar import Pipeline, parse
from bench.data.spec import DataSpec, Feed
from bench.data.stream import stream_eval, stream_train
from bench.errors import BenchError
from bench.tables.recipe import Dataset, Recipe


def pipelines(recipe: Recipe) -> tuple[Pipeline | None, Pipeline]:
    """(train, eval) pipelines of a recipe (train: None for an evaluation-only entry)."""
    train = recipe.preprocess.train
    return (parse(train) if train else None), parse(recipe.preprocess.eval)


def in_memory(spec: DataSpec, recipe: Recipe) -> bool:
    """Small fixed-size images whose ops all have batched forms: decoded once, processed on the device."""
    return _memory_path(spec, *pipelines(recipe))


def _memory_path(spec: DataSpec, train: Pipeline | None, evaluate: Pipeline) -> bool:
    return spec.small and evaluate.batched and (train is None or train.batched)


def train_feed(spec: DataSpec, split: str, dataset: Dataset, recipe: Recipe, data_dir: str | Path,
               generator: torch.Generator, device: str, seed: int = 0, start: int = 0, rank: int = 0,
               world: int = 1) -> Feed:
    """Endless augmented training batches.

    `start`: the step a resumed run starts at (streaming data skip to it; in-memory data are
    restored from the saved state by the caller through `Feed.restore`).
    """
    train_ops, eval_ops = pipelines(recipe)
    if _memory_path(spec, train_ops, eval_ops):
        data = memory.load_split(spec, split, data_dir)
        data.labels = memory.add_label_noise(data.labels, data.num_classes, dataset.label_noise,
                                             dataset.noise_seed)
        return memory.memory_train(data, train_ops, recipe.batch_size, generator, device)
    if dataset.label_noise > 0:
        raise BenchError(f"dataset {spec.name}: label noise needs an in-memory dataset (small fixed-size images "
                         "whose pre-processing ops all have batched forms)")
    return stream_train(spec, split, train_ops, recipe.batch_size, data_dir, seed, device, start, rank, world)


def eval_feed(spec: DataSpec, split: str, recipe: Recipe, data_dir: str | Path, device: str,
              rank: int = 0, world: int = 1) -> Feed:
    """Batches of the evaluation split; labels stay on the CPU (multi-hot for ReaL).

    Distributed: this rank's share (every world-th example); `size` stays the whole split's.
    """
    train_ops, eval_ops = pipelines(recipe)
    if _memory_path(spec, train_ops, eval_ops):
        data = memory.load_split(spec, split, data_dir)
        return memory.memory_eval(data, eval_ops, recipe.eval_batch_size, device, rank, world)
    return stream_eval(spec, split, eval_ops, recipe.eval_batch_size, data_dir, device, rank, world)

