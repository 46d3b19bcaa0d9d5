"""From a dataset split and a run's parsed pre-processing pipelines to training and evaluation batches.

    pipelines(preprocess)     -> the train and eval op lists a recipe declares, parsed (once per run)
    train_feed / eval_feed    -> a Feed from the in-memory path (small fixed-size images whose ops
                                 all have batched forms) or else the streaming path
    Inputs                    -> what one run reads (spec, splits, pipelines), opening its feeds
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.data import memory
from bench.pp.grammar import Pipeline, parse
from bench.data.spec import DataSpec, Feed
from bench.data.stream import stream_eval, stream_train
from bench.errors import BenchError
from bench.tables.recipe import Preprocess


@dataclass(frozen=True)
class Pipelines:
    """A recipe's pre-processing, parsed."""

    train: Pipeline | None  # None: an evaluation-only entry
    eval: Pipeline


def pipelines(preprocess: Preprocess) -> Pipelines:
    """The (train, eval) pipelines of a recipe's `preprocess`."""
    return Pipelines(parse(preprocess.train) if preprocess.train else None, parse(preprocess.eval))


def in_memory(spec: DataSpec, pipes: Pipelines) -> bool:
    """Small fixed-size images whose ops all have batched forms: decoded once, processed on the device."""
    return spec.small and pipes.eval.batched and (pipes.train is None or pipes.train.batched)


def train_feed(spec: DataSpec, split: str, pipes: Pipelines, batch_size: int, data_dir: str | Path,
               generator: torch.Generator, device: str, seed: int = 0, start: int = 0, rank: int = 0,
               world: int = 1, label_noise: float = 0.0, noise_seed: int = 0) -> Feed:
    """Endless augmented training batches.

    `start`: the step a resumed run starts at (streaming data skip to it; in-memory data are
    restored from the saved state by the caller through `Feed.restore`).
    """
    if in_memory(spec, pipes):
        data = memory.load_split(spec, split, data_dir)
        data.labels = memory.add_label_noise(data.labels, data.num_classes, label_noise, noise_seed)
        return memory.memory_train(data, pipes.train, batch_size, generator, device)
    if label_noise > 0:
        raise BenchError(f"dataset {spec.name}: label noise needs an in-memory dataset (small fixed-size images "
                         "whose pre-processing ops all have batched forms)")
    return stream_train(spec, split, pipes.train, batch_size, data_dir, seed, device, start, rank, world)


def eval_feed(spec: DataSpec, split: str, pipes: Pipelines, batch_size: int, data_dir: str | Path, device: str,
              rank: int = 0, world: int = 1) -> Feed:
    """Batches of the evaluation split; labels stay on the CPU (multi-hot for ReaL).

    Distributed: this rank's share (every world-th example); `size` stays the whole split's.
    """
    if in_memory(spec, pipes):
        data = memory.load_split(spec, split, data_dir)
        return memory.memory_eval(data, pipes.eval, batch_size, device, rank, world)
    return stream_eval(spec, split, pipes.eval, batch_size, data_dir, device, rank, world)


@dataclass(frozen=True)
class Inputs:
    """What one run reads: its dataset's spec and splits and its pipelines, parsed once; every feed of the
    run is opened from these (distributed: this rank's share)."""

    spec: DataSpec
    pipes: Pipelines
    train_split: str
    test_split: str
    data_dir: str | Path
    device: str
    rank: int = 0
    world: int = 1

    @property
    def in_chans(self) -> int:
        """Channels the model sees: in-memory data keep theirs (digits: 1); streamed images are RGB."""
        shape = self.spec.fixed_shape
        return shape[-1] if in_memory(self.spec, self.pipes) and len(shape) == 3 else 3

    def train(self, batch_size: int, generator: torch.Generator, seed: int, start: int = 0,
              label_noise: float = 0.0, noise_seed: int = 0) -> Feed:
        return train_feed(self.spec, self.train_split, self.pipes, batch_size, self.data_dir, generator,
                          self.device, seed, start, self.rank, self.world, label_noise, noise_seed)

    def eval(self, batch_size: int, spec: DataSpec | None = None, split: str | None = None) -> Feed:
        """One pass over the test split (or another dataset's split): a second evaluation opens another."""
        return eval_feed(spec or self.spec, split or self.test_split, self.pipes, batch_size, self.data_dir,
                         self.device, self.rank, self.world)
