"""Sharpness-Aware Minimization (Foret et al., 2021, arXiv:2010.01412), one step.

The paper's Algorithm 1, in PyTorch:
  1. g = grad L(w) on the batch; BatchNorm running statistics update here only.
  2. e = rho * g / ||g||_2 (ASAM, Kwon et al. 2021: e = rho * w^2 g / ||w g||).
  3. g_sam = grad L(w + e) on the same batch, BatchNorm statistics left untouched.
  4. restore w, clip g_sam if asked, and let the base optimizer step with g_sam.

The step is a function over a plain base optimizer (SGD, AdamW), so the
learning-rate schedule and weight decay act on that optimizer as usual.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch.nn.modules.batchnorm import _BatchNorm

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def accumulate_grad(model: torch.nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor,
                    accum_steps: int = 1) -> torch.Tensor:
    """Backward of the batch-mean loss, over `accum_steps` micro-batches; returns the loss."""
    total = torch.zeros((), device=x.device)
    for xc, yc in zip(x.chunk(accum_steps), y.chunk(accum_steps)):
        loss = loss_fn(model(xc), yc) * (len(yc) / len(y))
        loss.backward()
        total += loss.detach()
    return total


@contextmanager
def frozen_bn_stats(model: torch.nn.Module) -> Iterator[None]:
    """Run forward passes in train mode without changing BatchNorm running statistics."""
    saved = [(m, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
             for m in model.modules()
             if isinstance(m, _BatchNorm) and m.track_running_stats and m.running_mean is not None]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, mean, var, count in saved:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)


@torch.no_grad()
def perturbation(params: list[torch.nn.Parameter], rho: float, adaptive: bool) -> list[torch.Tensor]:
    """e(w) = rho * g / ||g||, or ASAM's rho * w^2 g / ||w g||."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    if adaptive:
        scaled = [p.abs() * g for p, g in zip(params, grads)]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(s) for s in scaled]))
        return [rho * p.abs() * s / (norm + 1e-12) for p, s in zip(params, scaled)]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    return [rho * g / (norm + 1e-12) for g in grads]


def sam_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, x: torch.Tensor,
             y: torch.Tensor, rho: float, adaptive: bool = False, grad_clip: float | None = None,
             accum_steps: int = 1) -> torch.Tensor:
    """One SAM update of `model` through the base `optimizer`; returns the loss at w."""
    params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
    optimizer.zero_grad(set_to_none=True)
    loss = accumulate_grad(model, loss_fn, x, y, accum_steps)
    eps = perturbation(params, rho, adaptive)
    with torch.no_grad():
        for p, e in zip(params, eps):
            p.add_(e)
    optimizer.zero_grad(set_to_none=True)
    with frozen_bn_stats(model):
        accumulate_grad(model, loss_fn, x, y, accum_steps)
    with torch.no_grad():
        for p, e in zip(params, eps):
            p.sub_(e)
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    return loss


def sgd_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, x: torch.Tensor,
             y: torch.Tensor, grad_clip: float | None = None, accum_steps: int = 1) -> torch.Tensor:
    """The plain step: gradient at w, optional clipping, base optimizer step."""
    optimizer.zero_grad(set_to_none=True)
    loss = accumulate_grad(model, loss_fn, x, y, accum_steps)
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss
