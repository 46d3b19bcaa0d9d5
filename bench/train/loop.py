"""The training loop every entry runs: read the plan, train, evaluate, record.

    bench train --entry <id> --seed <n>     (DVC stage train@<id>-<n>)

train() reads top to bottom in phases: seed everything; the inputs (the
dataset's spec and splits, the recipe's pipelines parsed once; in memory or
streaming); the timm model (from scratch or a checkpoint, head reset / zeroed
/ kept) on its engine, with its optimizer and schedule; restore a resume
point; run `steps` updates (plain or SAM, gradient accumulation, clipping,
optional Polyak/EMA averaging and frozen BatchNorm) with a progress bar;
evaluate top-1 on the test split (and extra evaluations such as ImageNet
ReaL); record metrics with provenance. `steps: 0` evaluates the checkpoint as
it is.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bench import provenance
from bench.data.loader import Inputs, pipelines
from bench.data.spec import Feed, data_spec
from bench.errors import BenchError
from bench.train.models import create_model
from bench.tables.recipe import Plan, Recipe
from bench.train import distributed as ddp
from bench.train import micro
from bench.train import resume as resuming
from bench.train.engine import make_engine, pick_device
from bench.train.evaluate import evaluate, record
from bench.train.footprint import measure
from bench.train.optim import build_mixer, build_optimizer, build_schedule
from bench.train.sam import sam_step, sgd_step
from bench.train.steplog import StepLog


class TrainingDiverged(BenchError):
    """The loss became NaN or infinite: the run failed and yields no number."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


# Exit statuses of a run that saved its resume point on a signal: SIGUSR2 (the time limit's warning:
# bench slurm resubmits) or SIGTERM (cancelled or pre-empted: the next run resumes).
EXIT_TIME_LIMIT = 75  # EX_TEMPFAIL
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process that SIGTERM ended


class Preempted(BenchError):
    """SIGTERM or SIGUSR2 arrived: the state was saved and the run stops; rerunning the stage resumes it."""

    def __init__(self, message: str, signal_name: str = "SIGTERM"):
        super().__init__(message)
        self.exit_code = EXIT_TIME_LIMIT if signal_name == "SIGUSR2" else EXIT_TERMINATED


def after_step(step: int) -> None:
    """Hook called after every optimizer step (tests use it to stop a run midway)."""


def _peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(torch.device(device)) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


@dataclass(frozen=True)
class RunConfig:
    """How a run executes, not what it computes: device, engine, resume points, progress bar."""

    device: str = "auto"  # auto: CUDA when present, else the CPU
    precision: str = "auto"  # auto: bf16 autocast on CUDA, float32 on CPU
    channels_last: str = "auto"  # auto: on CUDA for convolutional models
    compile: bool = False
    micro_batch: str | int | None = None  # the engine's cap on examples per forward pass (bench.train.micro)
    run_dir: Path | None = None  # with it: resume.pt every `checkpoint_every` steps and on SIGTERM
    checkpoint_every: int = 0
    progress: bool | None = None  # None: a bar when the output is a terminal
    # A learning curve's observer: called after every step as curve(step_done, score), where score() is the
    # current top-1 on the evaluation split (a tuner's pruner reads it; it may raise to stop the run).
    curve: Any = None


def train(plan: Plan, seed: int, data_dir: str | Path, run: RunConfig = RunConfig(),
          splits: tuple[str, str] | None = None) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Run one (entry, seed); returns (metrics, model state dict). Raises TrainingDiverged on NaN.

    `splits` = (train, eval) replaces the entry's train/test splits (the select
    stage trains on the sweep split and scores on the held-out one).
    With `run.run_dir`, the run saves run_dir/resume.pt every `run.checkpoint_every`
    steps and on SIGTERM, and resumes from it when it exists (bench.train.resume).
    """
    recipe = plan.recipe
    origin = _origin(plan)  # provenance as of the start
    world, device = ddp.setup(pick_device(run.device))
    _check_world(recipe, world)
    generator = seed_everything(seed)

    # Inputs: the dataset's spec and splits and the recipe's pipelines, parsed once; the feeds come from them.
    ds = plan.dataset
    train_split, test_split = splits or (ds.train_split, ds.test_split)
    inputs = Inputs(data_spec(ds, data_dir), pipelines(recipe.preprocess), train_split, test_split, data_dir,
                    device, world.rank, world.size)
    # The model on its engine, the optimizer, the schedule (and the Polyak average).
    net = _build(plan, inputs, run, device, world)
    # Restore: the resume point, if there is one, and the training feed from its step on.
    point = resuming.point(run.run_dir, recipe.steps, plan.to_json(), seed, net.engine.record(), world, device,
                           f"{plan.entry} seed {seed}")
    feed = (inputs.train(recipe.batch_size, generator, seed, point.start, ds.label_noise, ds.noise_seed)
            if recipe.steps > 0 else None)
    if point.saved:
        resuming.restore(point.saved, model=net.model, optimizer=net.optimizer, schedule=net.schedule,
                         ema=net.ema, generator=generator, feed=feed)
        print(f"{plan.entry} seed {seed}: resuming from step {point.start} ({point.path})", flush=True)

    # The steps.
    clock, cap_record, loss = _train_steps(plan, seed, inputs, net, feed, generator, point, run, world)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = clock.elapsed()
    if feed is not None and hasattr(feed.batches, "close"):
        feed.batches.close()  # the training loader's workers and prefetched batches go before evaluation

    # Evaluate: with Polyak averaging the averaged weights are the cell's value, the raw ones recorded beside.
    ddp.average_buffers(net.model)
    final = net.ema.module if net.ema is not None else net.model
    metrics: dict[str, Any] = {"entry": plan.entry, "table": plan.table, "seed": seed, "status": "ok"}
    test = _evaluate(metrics, plan, inputs, final, net, splits)

    # Record.
    metrics.update(_record(recipe, inputs, feed, test, loss, point.start, wall, clock, world, device))
    metrics.update({"engine": net.engine.record(), **cap_record, "device": device,
                    "device_name": provenance.device_name(device), **origin,
                    "packages": provenance.package_versions()})
    if point.path is not None and point.path.exists():
        point.path.unlink()  # the run is complete: nothing to resume
    return metrics, final.state_dict()


def _origin(plan: Plan) -> dict[str, Any]:
    """The code's commit (dirty if the code or this table differ) and the table's hash."""
    table = (plan.table_file,) if plan.table_file else ()
    return {"git_commit": provenance.git_commit(*table), "table_file": plan.table_file,
            "table_sha256": provenance.file_sha256(plan.table_file)}


@dataclass
class _Net:
    """The model and what updates it."""

    model: torch.nn.Module
    engine: Any
    wrapped: torch.nn.Module  # distributed: the DDP wrapper
    forward: Any  # the wrapper, compiled when the engine compiles
    optimizer: torch.optim.Optimizer
    schedule: Any
    ema: Any


def _build(plan: Plan, inputs: Inputs, run: RunConfig, device: str, world) -> _Net:
    """The timm model (from scratch or a checkpoint, head reset / zeroed / kept) on its engine, the
    optimizer, the schedule and the Polyak average."""
    recipe = plan.recipe
    model = create_model(plan.model, _head_classes(plan, inputs), inputs.in_chans, plan.model_kwargs,
                         plan.checkpoint, zero_head=recipe.head == "zeros",
                         pos_embed_resample=recipe.pos_embed_resample)
    engine = make_engine(device, model, run.precision, run.channels_last, run.compile)
    model = engine.prepare(model)
    wrapped = ddp.wrap(model, world, device)
    forward = torch.compile(wrapped) if engine.compile else wrapped
    optimizer = build_optimizer(model, recipe.optimizer, recipe.weight_decay_mode == "loss",
                                **engine.optimizer_kwargs())
    schedule = build_schedule(optimizer, recipe)
    ema = None
    if recipe.ema is not None:
        from timm.utils import ModelEmaV3  # Polyak averaging, as ViT Table 2's ImageNet column

        ema = ModelEmaV3(model, decay=recipe.ema)
    return _Net(model, engine, wrapped, forward, optimizer, schedule, ema)


def _train_mode(model: torch.nn.Module, freeze_bn: bool) -> None:
    model.train()
    if freeze_bn:  # SAM's fine-tuning: BatchNorm used as at test time
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()


def _train_steps(plan: Plan, seed: int, inputs: Inputs, net: _Net, feed: Feed | None, generator,
                 point: resuming.Point, run: RunConfig, world) -> tuple[_Clock, dict[str, Any], torch.Tensor]:
    """Steps `point.start` to `recipe.steps`, saving resume points on the way; returns (the run's clock, the
    micro-batch record, the last loss)."""
    recipe, model, device = plan.recipe, net.model, net.engine.device
    _train_mode(model, recipe.freeze_bn)
    mixer = build_mixer(recipe, inputs.spec.num_classes)
    cap, cap_record = micro.resolve(
        run.micro_batch, recipe, world.size, model, lambda: measure(
            plan.model, plan.model_kwargs, recipe.resolution, inputs.in_chans, _head_classes(plan, inputs)),
        torch.cuda.get_device_properties(device).total_memory if device.startswith("cuda") else None,
        net.engine.precision)
    step_fn = _step_fn(recipe, net, mixer, cap, world)
    clock = _Clock(point.saved["wall_time_s"] if point.saved else 0.0)

    def checkpoint(step_done: int) -> None:
        resuming.save(point.path, fp=point.fp, step=step_done, wall=clock.elapsed(), model=model,
                      optimizer=net.optimizer, schedule=net.schedule, ema=net.ema, generator=generator,
                      feed_state=feed.state() if feed.state else None)

    def score() -> float:  # the learning curve's point: top-1 on the evaluation split now, then back to training
        top1 = evaluate(model, inputs.eval(recipe.eval_batch_size))[0]
        _train_mode(model, recipe.freeze_bn)
        return top1

    log = StepLog(run.run_dir if world.main else None, recipe.steps, point.start, recipe.batch_size)
    try:
        loss = _steps(f"{plan.entry} seed {seed}", recipe.steps, point.start, net, feed, step_fn, world, run,
                      point.path, checkpoint, log, score)
    finally:
        log.close()
    return clock, cap_record, loss


def _step_fn(recipe: Recipe, net: _Net, mixer, cap: int | None, world):
    """One optimizer update on a batch (plain or SAM, accumulation, clipping, mixing); returns its loss."""
    decay_in_loss = recipe.weight_decay_mode == "loss"

    def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # soft targets (mixed) carry their smoothing
        return F.cross_entropy(logits.float(), y, label_smoothing=recipe.label_smoothing if y.dim() == 1 else 0.0)

    def step_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        opt, sam = recipe.optimizer, recipe.optimizer.sam
        if mixer is not None:
            x, y = mixer(x, y.to(x.device))
        micro_steps = max(1, -(-recipe.accum_steps // world.size))  # this device's share of the micro-batches
        l2 = opt.weight_decay if decay_in_loss else 0.0
        sync = {"no_sync": ddp.no_sync(net.wrapped)}
        if sam is not None:
            return sam_step(net.forward, net.optimizer, loss_fn, x, y, sam.rho, sam.adaptive, recipe.grad_clip,
                            micro_steps, sam.m, l2, net.engine.autocast,
                            all_reduce=ddp.all_reduce_mean if world.active else None, micro_batch=cap,
                            rank=world.rank, **sync)
        return sgd_step(net.forward, net.optimizer, loss_fn, x, y, recipe.grad_clip, micro_steps, l2,
                        net.engine.autocast, micro_batch=cap, **sync)

    return step_fn


def _evaluate(metrics: dict[str, Any], plan: Plan, inputs: Inputs, final: torch.nn.Module, net: _Net,
              splits: tuple[str, str] | None) -> Feed:
    """Top-1 (and top-5) of the final weights on the test split and the extra evaluations, into `metrics`;
    with Polyak averaging, of the raw weights too (suffix _raw). Returns the first test feed."""
    size = plan.recipe.eval_batch_size
    test = inputs.eval(size)
    extra = [(x.key.removesuffix("_err"), data_spec(x.name, inputs.data_dir), x.split)
             for x in (plan.dataset.extra_eval if not splits else ())]
    for suffix, weights in (("", final), ("_raw", net.model if net.ema is not None else None)):
        if weights is None:
            continue
        with net.engine.autocast():
            record(metrics, "top1", suffix, evaluate(weights, test if not suffix else inputs.eval(size)))
            for base, spec, split in extra:
                record(metrics, base, suffix, evaluate(weights, inputs.eval(size, spec, split)))
    return test


def _head_classes(plan: Plan, inputs: Inputs) -> int | None:
    """The classifier's classes; None keeps the checkpoint's head."""
    return None if plan.recipe.head == "keep" else inputs.spec.num_classes


def _record(recipe: Recipe, inputs: Inputs, feed: Feed | None, test: Feed, loss: torch.Tensor, start: int,
            wall: float, clock: _Clock, world, device: str) -> dict[str, Any]:
    """What the run did and what it cost."""
    steps = recipe.steps
    images, this_session = (steps - start) * recipe.batch_size, wall - clock.offset
    return {"train_loss": float(loss), "steps": steps,
            "epochs": round(steps * recipe.batch_size / feed.size, 3) if feed else 0.0,
            "train_examples": feed.size if feed else 0, "test_examples": test.size,
            "train_split": inputs.train_split if steps else None, "test_split": inputs.test_split,
            "wall_time_s": round(wall, 3),
            "images_per_s": round(images / this_session, 1) if images and this_session > 0 else None,
            "resumed_from_step": start or None, "peak_memory_mb": round(_peak_memory_mb(device), 1),
            "device_hours": round(wall * world.size / 3600.0, 6), "devices": world.size,
            "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "started_at": clock.started_at}


def _steps(label: str, steps: int, start: int, net: _Net, feed: Feed | None, step_fn, world, run: RunConfig,
           resume_path: Path | None, checkpoint, log: StepLog, score) -> torch.Tensor:
    """The optimizer steps from `start` to `steps`; returns the last loss.

    Saves a resume point every `run.checkpoint_every` steps and when SIGTERM or SIGUSR2 arrives (then stops).
    """
    import signal

    engine, schedule, ema, model = net.engine, net.schedule, net.ema, net.model
    loss = torch.zeros(())
    device = engine.device
    first_bad = torch.full((), -1, dtype=torch.long, device=device)  # first non-finite step, on the device
    stop = {"now": False}
    # SIGTERM (preemption, scancel) and SIGUSR2 (what bench slurm asks SLURM to send before a job's time
    # limit, `--signal=B:USR2@180`; its default action would kill the run unsaved) both save, then stop.
    signals = (signal.SIGTERM, signal.SIGUSR2) if resume_path else ()
    previous = {sig: signal.signal(sig, lambda num, _: stop.update(now=True, sig=signal.Signals(num).name))
                for sig in signals}
    bar = tqdm(range(start, steps), desc=label, unit="step", leave=False,
               initial=start, total=steps, disable=None if run.progress is None else not run.progress)
    try:
        for step in bar:
            x, y = next(feed.batches)
            if world.active and not feed.sharded:  # in-memory data: every rank drew the global batch
                x, y = ddp.shard(x, world), ddp.shard(y, world)
            lr = net.optimizer.param_groups[0]["lr"]  # this step's
            loss = step_fn(engine.batch(x), y)
            schedule.step()
            if ema is not None:
                ema.update(model, step=step)
            # Track the first non-finite loss on the device (no sync per step); look every 10 steps,
            # at the end, and before any resume point (never save a diverged state to resume from).
            first_bad = torch.where(~torch.isfinite(loss.detach()) & (first_bad < 0), step, first_bad)
            done = step + 1
            every = run.checkpoint_every
            scheduled = bool(resume_path and every and done % every == 0 and done < steps)
            # Checks happen at the same steps on every rank, and the ranks agree on their outcome (one
            # all-reduce), so a NaN or a SIGTERM on one rank stops all of them together; alone, a run
            # also answers SIGTERM at once.
            save = False
            if step % 10 == 0 or step == steps - 1 or scheduled or (not world.active and stop["now"]):
                bad, stopping = ddp.agree(first_bad, stop["now"])
                if bad >= 0:
                    raise TrainingDiverged(f"loss is not finite (NaN or inf) from step {bad}", bad)
                stop["now"] = stopping
                save = bool(resume_path and done < steps and (stopping or scheduled))
                bar.set_postfix(loss=f"{float(loss):.3f}", refresh=False)
            log.step(step, loss, lr)
            after_step(step)
            if run.curve is not None:
                run.curve(done, score)
            if save:
                checkpoint(done)
                if stop["now"]:
                    raise Preempted(f"{label}: stopped by {stop.get('sig', 'SIGTERM')} after step {done}; "
                                    f"state saved to {resume_path}, rerun to resume", stop.get("sig", "SIGTERM"))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return loss


class _Clock:
    """Wall time of a run, resumed runs included (`offset`: the time before this session)."""

    def __init__(self, offset: float):
        self.offset, self.began = offset, time.perf_counter()
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def elapsed(self) -> float:
        return self.offset + time.perf_counter() - self.began


def _check_world(recipe: Recipe, world) -> None:
    share = recipe.batch_size // world.size
    m = recipe.optimizer.sam.m if recipe.optimizer.sam else None
    if world.active and (recipe.batch_size % world.size or m and (m > share or share % m)):
        raise BenchError(f"{world.size} devices: batch_size {recipe.batch_size} must split evenly, and SAM's m "
                         f"({m}) must divide each device's {share} examples")

