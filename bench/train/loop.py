"""The training loop every entry runs: read the plan, train, evaluate, record.

    bench train --entry <id> --seed <n>     (DVC stage train@<id>-<n>)

Top to bottom: seed everything; open the dataset (in memory or streaming);
create the timm model (from scratch or a checkpoint, head reset / zeroed /
kept); build the optimizer and schedule; run `steps` updates (plain or SAM,
gradient accumulation, clipping, optional Polyak/EMA averaging and frozen
BatchNorm) with a progress bar; evaluate top-1 on the test split (and extra
evaluations such as ImageNet ReaL); return metrics with provenance.
`steps: 0` evaluates the checkpoint as it is.
"""

from __future__ import annotations

import os
import random
import sys
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
from bench.data.loader import eval_feed, in_memory, train_feed
from bench.data.spec import DataSpec, Feed, data_spec
from bench.errors import BenchError
from bench.train.models import create_model
from bench.tables.recipe import Plan, Recipe
from bench.train import distributed as ddp
from bench.train import micro
from bench.train import resume as resuming
from bench.train.engine import make_engine
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


def _gpus_present() -> str | None:
    """A sign that this machine has NVIDIA GPUs (their device files), whatever torch can use."""
    return next((p for p in ("/dev/nvidia0", "/dev/nvidiactl") if Path(p).exists()), None)


def pick_device(requested: str = "auto") -> str:
    """`auto`: CUDA when torch can use it, else the CPU; but never the CPU by accident on a machine with
    GPUs (a driver older than torch's CUDA build, a CPU-only torch), where a run would take weeks."""
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        hidden = os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1")  # GPUs hidden on purpose
        gpu = None if hidden else _gpus_present()
        if gpu:
            raise BenchError(f"device auto: this machine has NVIDIA GPUs ({gpu} exists) but torch "
                             f"{torch.__version__} cannot use them (torch.cuda.is_available() is False; CUDA "
                             f"build {torch.version.cuda or 'none: a CPU-only torch'}): usually a driver older "
                             "than that CUDA build. Fix the driver or torch, or train on the CPU on purpose "
                             "with --device cpu (params.yaml: train.device: cpu)")
        return "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError(f"device {requested!r} requested but CUDA is not available")
    return requested


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
    recipe, ds = plan.recipe, plan.dataset
    # Provenance as of the start: the code's commit (dirty if the code or this table differ) and the table's hash.
    table = (plan.table_file,) if plan.table_file else ()
    origin = {"git_commit": provenance.git_commit(*table), "table_file": plan.table_file,
              "table_sha256": provenance.file_sha256(plan.table_file)}
    world, device = ddp.setup(pick_device(run.device))
    _check_world(recipe, world)
    generator = seed_everything(seed)
    train_split, test_split = splits or (ds.train_split, ds.test_split)
    spec = data_spec(ds, data_dir)
    steps = recipe.steps
    num_classes = None if recipe.head == "keep" else spec.num_classes
    model = create_model(plan.model, num_classes, _in_chans(spec, recipe), plan.model_kwargs, plan.checkpoint,
                         zero_head=recipe.head == "zeros", pos_embed_resample=recipe.pos_embed_resample)
    engine = make_engine(device, model, run.precision, run.channels_last, run.compile)
    model = engine.prepare(model)
    wrapped = ddp.wrap(model, world, device)
    forward = torch.compile(wrapped) if engine.compile else wrapped
    decay_in_loss = recipe.weight_decay_mode == "loss"
    optimizer = build_optimizer(model, recipe.optimizer, decay_in_loss, **engine.optimizer_kwargs())
    schedule = build_schedule(optimizer, recipe)
    ema = None
    if recipe.ema is not None:
        from timm.utils import ModelEmaV3  # Polyak averaging, as ViT Table 2's ImageNet column

        ema = ModelEmaV3(model, decay=recipe.ema)
    resume_name = resuming.RESUME_FILE if not world.active else f"resume.rank{world.rank}.pt"
    resume_path = Path(run.run_dir) / resume_name if run.run_dir is not None and steps else None
    fp = resuming.fingerprint(plan.to_json(), seed, engine.record())
    saved = resuming.load(resume_path, fp)
    if world.active and not ddp.same_step(saved["step"] if saved else 0, device):
        print(f"{plan.entry} seed {seed}: the ranks' resume points are at different steps (a kill during a "
              "save); every rank starts from step 0", file=sys.stderr, flush=True)
        saved = None
    start = saved["step"] if saved else 0
    feed = None
    if steps > 0:
        feed = train_feed(spec, train_split, ds, recipe, data_dir, generator, device, seed, start, world.rank,
                          world.size)
    state = _State(model, optimizer, schedule, ema, generator, feed)
    if saved:
        resuming.restore(saved, model=model, optimizer=optimizer, schedule=schedule, ema=ema,
                         generator=generator, feed=feed)
        print(f"{plan.entry} seed {seed}: resuming from step {start} ({resume_path})", flush=True)

    model.train()
    if recipe.freeze_bn:  # SAM's fine-tuning: BatchNorm used as at test time
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
    mixer = build_mixer(recipe, spec.num_classes)
    cap, micro_record = micro.resolve(
        run.micro_batch, recipe, world.size, model, lambda: measure(
            plan.model, plan.model_kwargs, recipe.resolution, _in_chans(spec, recipe), num_classes),
        torch.cuda.get_device_properties(device).total_memory if device.startswith("cuda") else None,
        engine.precision)

    def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # soft targets (mixed) carry their smoothing
        return F.cross_entropy(logits.float(), y, label_smoothing=recipe.label_smoothing if y.dim() == 1 else 0.0)

    def step_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        opt, sam = recipe.optimizer, recipe.optimizer.sam
        if mixer is not None:
            x, y = mixer(x, y.to(x.device))
        micro_steps = max(1, -(-recipe.accum_steps // world.size))  # this device's share of the micro-batches
        l2 = opt.weight_decay if decay_in_loss else 0.0
        sync = {"no_sync": ddp.no_sync(wrapped)}
        if sam is not None:
            return sam_step(forward, optimizer, loss_fn, x, y, sam.rho, sam.adaptive, recipe.grad_clip,
                            micro_steps, sam.m, l2, engine.autocast,
                            all_reduce=ddp.all_reduce_mean if world.active else None, micro_batch=cap, **sync)
        return sgd_step(forward, optimizer, loss_fn, x, y, recipe.grad_clip, micro_steps, l2, engine.autocast,
                        micro_batch=cap, **sync)

    clock = _Clock(saved["wall_time_s"] if saved else 0.0)

    def checkpoint(step_done: int) -> None:
        resuming.save(resume_path, fp=fp, step=step_done, wall=clock.elapsed(), model=model, optimizer=optimizer,
                      schedule=schedule, ema=ema, generator=generator,
                      feed_state=state.feed.state() if state.feed.state else None)

    def score() -> float:  # the learning curve's point: top-1 on the evaluation split now, then back to training
        top1 = evaluate(model, eval_feed(spec, test_split, recipe, data_dir, device, world.rank, world.size))[0]
        model.train()
        for m in model.modules() if recipe.freeze_bn else ():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
        return top1

    log = StepLog(run.run_dir if world.main else None, steps, start, recipe.batch_size)
    try:
        loss = _steps(f"{plan.entry} seed {seed}", steps, start, state, step_fn, engine, world, run, resume_path,
                      checkpoint, log, score)
    finally:
        log.close()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = clock.elapsed()
    if feed is not None and hasattr(feed.batches, "close"):
        feed.batches.close()  # the training loader's workers and prefetched batches go before evaluation
        state.feed = None

    ddp.average_buffers(model)
    # With Polyak averaging the averaged weights are the cell's value; the raw weights are recorded beside them.
    final = ema.module if ema is not None else model

    def test_feed() -> Feed:  # a Feed is one pass: a second evaluation reads the split again
        return eval_feed(spec, test_split, recipe, data_dir, device, world.rank, world.size)

    test = test_feed()
    metrics: dict[str, Any] = {"entry": plan.entry, "table": plan.table, "seed": seed, "status": "ok"}
    extra = [(x.key.removesuffix("_err"), data_spec(x.name, data_dir), x.split)
             for x in (ds.extra_eval if not splits else ())]
    for suffix, weights in (("", final), ("_raw", model if ema is not None else None)):
        if weights is None:
            continue
        with engine.autocast():
            record(metrics, "top1", suffix, evaluate(weights, test if not suffix else test_feed()))
            for base, extra_spec, split in extra:
                record(metrics, base, suffix, evaluate(weights, eval_feed(extra_spec, split, recipe, data_dir,
                                                                          device, world.rank, world.size)))
    metrics.update({
        "train_loss": float(loss), "steps": steps,
        "epochs": round(steps * recipe.batch_size / feed.size, 3) if feed else 0.0,
        "train_examples": feed.size if feed else 0, "test_examples": test.size,
        "train_split": train_split if steps else None, "test_split": test_split,
    })
    images = (steps - start) * recipe.batch_size
    this_session = wall - clock.offset
    metrics.update({
        "wall_time_s": round(wall, 3),
        "images_per_s": round(images / this_session, 1) if images and this_session > 0 else None,
        "resumed_from_step": start or None,
        "peak_memory_mb": round(_peak_memory_mb(device), 1),
        "device_hours": round(wall * world.size / 3600.0, 6),
        "devices": world.size,
        "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "started_at": clock.started_at,
        "engine": engine.record(),
        **micro_record,
        "device": device,
        "device_name": provenance.device_name(device),
        **origin,
        "packages": provenance.package_versions(),
    })
    if resume_path is not None and resume_path.exists():
        resume_path.unlink()  # the run is complete: nothing to resume
    return metrics, final.state_dict()


@dataclass
class _State:
    """What the steps change (and a resume point saves)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Any
    ema: Any
    generator: torch.Generator
    feed: Feed | None


def _steps(label: str, steps: int, start: int, state: _State, step_fn, engine, world, run: RunConfig,
           resume_path: Path | None, checkpoint, log: StepLog, score) -> torch.Tensor:
    """The optimizer steps from `start` to `steps`; returns the last loss.

    Saves a resume point every `run.checkpoint_every` steps and when SIGTERM or SIGUSR2 arrives (then stops).
    """
    import signal

    feed, schedule, ema, model = state.feed, state.schedule, state.ema, state.model
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
            lr = state.optimizer.param_groups[0]["lr"]  # this step's
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


def _in_chans(spec: DataSpec, recipe: Recipe) -> int:
    """Channels the model sees: in-memory data keep theirs (digits: 1); streamed images are RGB."""
    return spec.fixed_shape[-1] if in_memory(spec, recipe) and len(spec.fixed_shape) == 3 else 3
