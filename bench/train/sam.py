"""Sharpness-Aware Minimization (Foret et al., 2021, arXiv:2010.01412), one step.

The paper's Algorithm 1, in PyTorch:
  1. g = grad L(w) on the batch; BatchNorm running statistics update here only.
  2. e = rho * g / ||g||_2 (ASAM, Kwon et al. 2021: e = rho * w^2 g / ||w g||).
  3. g_sam = grad L(w + e) on the same batch, BatchNorm statistics left untouched.
  4. restore w, clip g_sam if asked, and let the base optimizer step with g_sam.

As the paper ran it (google-research/sam, flax_training.train_step):
  * m-sharpness: each accelerator computed its own perturbation from its own
    share of the batch, without syncing (flax_training.py@dae9904:84,
    sync_perturbations=False), and the SAM gradients were then averaged. The
    from-scratch CIFAR runs split a batch of 256 over 8 GPUs (m = 32, Section
    3.1 and Appendix C.1); the EfficientNet fine-tuning split 1024 over the 64
    cores of a TPUv3-64 (m = 16, Appendix C.2). `m` emulates that on one
    device: the batch is cut into chunks of m examples, each with its own e,
    and the chunks' SAM gradients are averaged (m = None: one perturbation).
  * weight decay: the official code adds 0.5 * wd * ||w||^2 to the loss, so
    the decay term is part of both gradients (at w, and at w + e) and of
    what is clipped. `l2` does that (and the base optimizer then has no
    weight decay of its own); l2 = 0 leaves decay to the optimizer.
  * BatchNorm: each accelerator normalised its own examples and updated its running statistics from
    the ascent pass, once a step; the statistics were averaged over devices at evaluation. Several
    passes a step here (chunks, micro-batches) update them once, with their mean (PooledBnStats).
  * clipping applies to the final (averaged) SAM gradient.
  * distributed with one perturbation per device, the in-loss decay at w + e_r
    is averaged over devices like the rest of the gradient (l2 (w + mean e_r)),
    so every replica takes the same step.
  * randomness: both passes of a chunk draw the factors the official key governs (Shake-Shake's,
    ShakeDrop's alpha and beta) from one stream, replayed, and the ascent pass backpropagates through the
    forward factors (true_gradient); Bernoulli draws (ShakeDrop's gate, dropout, drop-path) are drawn
    anew in each pass, as there (bench.train.draws says where in the official code).

The step is a function over a plain base optimizer (SGD, AdamW), so the
learning-rate schedule acts on that optimizer as usual. `amp` is the
autocast context of the engine (bf16 on CUDA, nothing on CPU).
"""

from __future__ import annotations

import math
from contextlib import contextmanager, nullcontext
from typing import Callable, ContextManager, Iterator

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from bench.train import draws

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Amp = Callable[[], ContextManager]


def accumulate_grad(model: torch.nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor,
                    accum_steps: int = 1, amp: Amp = nullcontext, no_sync: Amp = nullcontext,
                    sync_last: bool = True, pool: PooledBnStats | None = None) -> torch.Tensor:
    """Backward of the batch-mean loss, over `accum_steps` micro-batches; returns the loss.

    Distributed (DDP): every backward runs under `no_sync` except the last when `sync_last`,
    which all-reduces the accumulated gradient once. `pool`: each forward pass's BatchNorm statistics
    go into the step's one update.
    """
    total = torch.zeros((), device=x.device)
    parts = list(zip(x.chunk(accum_steps), y.chunk(accum_steps)))
    for i, (xc, yc) in enumerate(parts):
        with (nullcontext() if sync_last and i == len(parts) - 1 else no_sync()):
            with amp(), (pool.one_pass() if pool is not None else nullcontext()):
                loss = loss_fn(model(xc), yc) * (len(yc) / len(y))
            loss.backward()
        total += loss.detach()
    return total


def capped(micro_steps: int, examples: int, micro_batch: int | None) -> int:
    """Micro-batches for `examples`: the recipe's `micro_steps`, or more when the engine's cap
    `micro_batch` needs them. The batch-mean loss weights each piece by its size, so the gradient is
    the same however the examples are cut (up to float summation order), BatchNorm in train mode
    excepted: its statistics are per forward pass (bench.train.micro refuses that case)."""
    if micro_batch is None:
        return micro_steps
    return max(micro_steps, math.ceil(examples / micro_batch))


@torch.no_grad()
def add_l2(params: list[torch.nn.Parameter], l2: float) -> None:
    """Add the gradient of 0.5 * l2 * ||w||^2 (the official code's weight decay) at the current weights."""
    if l2:
        for p in params:
            if p.grad is None:
                p.grad = l2 * p.detach().clone()
            else:
                p.grad.add_(p, alpha=l2)


def _tracking_bn(model: torch.nn.Module) -> list[_BatchNorm]:
    """The BatchNorm layers whose forward passes update running statistics. Those in eval mode (frozen, as
    SAM's fine-tuning runs) update nothing."""
    return [m for m in model.modules()
            if isinstance(m, _BatchNorm) and m.training and m.track_running_stats and m.running_mean is not None]


@contextmanager
def frozen_bn_stats(model: torch.nn.Module) -> Iterator[None]:
    """Run forward passes in train mode without changing BatchNorm running statistics."""
    saved = [(m, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
             for m in _tracking_bn(model)]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, mean, var, count in saved:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)


class PooledBnStats:
    """One running-statistics update a step from several forward passes (m-chunks, micro-batches).

    The official code's devices each normalised their own examples and updated their own running
    statistics once a step (no axis_name: models/utils.py@dae9904:48-51; SAM: from the ascent pass only,
    flax_training.py@dae9904:537, 551), and the devices' averages were averaged at evaluation
    (flax_training.py@dae9904:614-615). From the same start with the same momentum, that mean of averages is
    one average updated with the mean of the devices' batch statistics. Emulated on one device, each pass
    would update it in turn (8 updates a step for 256 examples in passes of 32). Here every pass starts
    from the step's statistics; the step ends on the mean of what the passes made of them:
    mean_i((1 - mom) r + mom s_i) = (1 - mom) r + mom mean_i(s_i), and the batch count grows by one.
    """

    def __init__(self, layers: list[_BatchNorm]):
        self.layers = layers
        self.start = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in layers]
        self.sums: list[torch.Tensor] | None = None
        self.passes = 0

    @classmethod
    def over(cls, model: torch.nn.Module, passes: int) -> PooledBnStats | None:
        """A pool when a step makes several forward passes through BatchNorm that tracks statistics."""
        layers = _tracking_bn(model) if passes > 1 else []
        return cls(layers) if layers else None

    @contextmanager
    def one_pass(self) -> Iterator[None]:
        with torch.no_grad():
            for m, (mean, var, count) in zip(self.layers, self.start):
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)
        yield
        with torch.no_grad():
            now = [t for m in self.layers for t in (m.running_mean, m.running_var)]
            if self.sums is None:
                self.sums = [t.clone() for t in now]
            else:
                torch._foreach_add_(self.sums, now)
        self.passes += 1

    @torch.no_grad()
    def finish(self) -> None:
        if not self.passes:
            return
        for i, (m, (_, _, count)) in enumerate(zip(self.layers, self.start)):
            m.running_mean.copy_(self.sums[2 * i] / self.passes)
            m.running_var.copy_(self.sums[2 * i + 1] / self.passes)
            m.num_batches_tracked.copy_(count + 1)


def _grads(params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    return [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]


@torch.no_grad()
def perturbation(params: list[torch.nn.Parameter], rho: float, adaptive: bool) -> list[torch.Tensor]:
    """e(w) = rho * g / ||g||, or ASAM's rho * w^2 g / ||w g|| (multi-tensor ops: one kernel per op)."""
    grads = _grads(params)
    if adaptive:
        absw = torch._foreach_abs(params)
        scaled = torch._foreach_mul(absw, grads)
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(scaled)))
        out = torch._foreach_mul(absw, scaled)
        torch._foreach_mul_(out, rho / (norm + 1e-12))
        return out
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    return torch._foreach_mul(grads, rho / (norm + 1e-12))


def sam_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, x: torch.Tensor,
             y: torch.Tensor, rho: float, adaptive: bool = False, grad_clip: float | None = None,
             accum_steps: int = 1, m: int | None = None, l2: float = 0.0, amp: Amp = nullcontext,
             no_sync: Amp = nullcontext, all_reduce: Callable[[list[torch.Tensor]], None] | None = None,
             micro_batch: int | None = None, rank: int = 0) -> torch.Tensor:
    """One SAM update of `model` through the base `optimizer`; returns the loss at w.

    `accum_steps` micro-batches bound memory; `m` (examples per perturbation, m-sharpness) sets how
    many independent perturbations the batch gets. Both must divide the batch. `micro_batch` (the
    engine's cap, not the recipe's) cuts each chunk's forward passes further, to at most that many
    examples: the chunks, their perturbations and the update stay the same.

    Distributed (torchrun, DDP): `x`, `y` are this device's share; the first backward runs under
    `no_sync`, so each device perturbs with its own gradient (the paper's per-accelerator
    perturbation); the SAM gradient is averaged over devices (by DDP's all-reduce, or by
    `all_reduce` when the share is cut into several m-chunks) before clipping. `rank` (the device's)
    gives each device's chunks their own shared draws, as each accelerator had its own key.
    """
    params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
    n = len(y)
    chunk = m or n
    if n % chunk:
        raise ValueError(f"m = {m} must divide the batch size {n}")
    chunks = n // chunk
    micro_steps = capped(max(1, math.ceil(accum_steps * chunk / n)), chunk, micro_batch)  # per chunk
    loss = torch.zeros((), device=x.device)
    averaged = None
    base = int(torch.randint(2**62, ()))  # this step's draw of the global generator: the chunks' seeds
    pool = PooledBnStats.over(model, chunks * micro_steps)  # the ascent passes' statistics, one update
    for k in range(chunks):
        xk, yk = (x, y) if chunks == 1 else (x[k * chunk:(k + 1) * chunk], y[k * chunk:(k + 1) * chunk])
        stream = draws.Stream(draws.chunk_seed(base, rank, k))
        optimizer.zero_grad(set_to_none=True)
        with draws.shared(stream, true_gradient=True):
            loss += accumulate_grad(model, loss_fn, xk, yk, micro_steps, amp, no_sync, False, pool) * (len(yk) / n)
        add_l2(params, l2)
        eps = perturbation(params, rho, adaptive)
        with torch.no_grad():
            torch._foreach_add_(params, eps)
        optimizer.zero_grad(set_to_none=True)
        synced = chunks == 1  # DDP all-reduces this backward's gradient (no_sync otherwise)
        stream.restart()  # the descent pass draws the ascent pass's factors again
        with frozen_bn_stats(model), draws.shared(stream):
            accumulate_grad(model, loss_fn, xk, yk, micro_steps, amp, no_sync, sync_last=synced)
        replicated = synced and all_reduce is not None and l2
        if not replicated:
            add_l2(params, l2)  # at w + e, as the official loss is evaluated there
        with torch.no_grad():
            torch._foreach_sub_(params, eps)
            if replicated:
                # The decay term at each device's own w + e_r belongs inside the average DDP just took:
                # mean_r l2 (w + e_r) = l2 (w + mean_r e_r). Added after it per device, it made the
                # replicas' weights drift apart.
                mean_eps = [e.clone() for e in eps]
                all_reduce(mean_eps)
                for p, e in zip(params, mean_eps):
                    if p.grad is None:
                        p.grad = l2 * (p.detach() + e)
                    else:
                        p.grad.add_(p + e, alpha=l2)
            if chunks > 1:  # average the chunks' SAM gradients, as the replicas' were
                grads = _grads(params)
                if averaged is None:
                    averaged = torch._foreach_div(grads, float(chunks))
                else:
                    torch._foreach_add_(averaged, grads, alpha=1.0 / chunks)
    if pool is not None:
        pool.finish()
    if averaged is not None:
        for p, a in zip(params, averaged):
            p.grad = a
        if all_reduce is not None:
            all_reduce([p.grad for p in params])
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    return loss


def sgd_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, x: torch.Tensor,
             y: torch.Tensor, grad_clip: float | None = None, accum_steps: int = 1, l2: float = 0.0,
             amp: Amp = nullcontext, no_sync: Amp = nullcontext, micro_batch: int | None = None) -> torch.Tensor:
    """The plain step: gradient at w (plus the in-loss weight decay), optional clipping, optimizer step.
    `micro_batch`: the engine's cap on examples per forward pass (the update stays the same). Several
    micro-batches update BatchNorm's running statistics once, with their mean (PooledBnStats)."""
    optimizer.zero_grad(set_to_none=True)
    micro_steps = capped(accum_steps, len(y), micro_batch)
    pool = PooledBnStats.over(model, micro_steps)
    loss = accumulate_grad(model, loss_fn, x, y, micro_steps, amp, no_sync, pool=pool)
    if pool is not None:
        pool.finish()
    if l2:
        add_l2([p for group in optimizer.param_groups for p in group["params"] if p.requires_grad], l2)
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss
