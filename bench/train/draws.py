"""The random factors SAM's two passes share, and the ascent pass's true gradient.

google-research/sam runs SAM's ascent and descent passes under one PRNG key
(training_utils/flax_training.py@dae9904:505-506, each pass opening `flax.nn.stochastic(prng_key)`
afresh; the passes at :537-538 and :549-550), so every draw made from that key is the same in both:
Shake-Shake's forward and backward factors and ShakeDrop's alpha and beta (models/utils.py@dae9904:104-116,
163-176). Bernoulli draws are not made from it: sam_jax/train.py@dae9904:76-84 replaces
`jax.random.bernoulli` with XLA's stateful generator (`rng_uniform`, which ignores the key), so
ShakeDrop's keep gate (utils.py:166), dropout and drop-connect are drawn anew in each pass. Each
accelerator has its own key (an m-chunk here). The ascent pass alone uses `true_gradient=True`
(:537-538): the forward factor in the backward pass (utils.py:111-112, 179-180).

Here: `sam_step` gives each m-chunk a `Stream` (its own seed, drawn from torch's global generator, and
the device's rank), runs the ascent pass in it under `true_gradient()`, restarts it, and runs the
descent pass in it; the draws the official key governs come from `factors()`, in the same order in
both passes (micro-batches included), so they repeat; everything else (the gate, timm's dropout and
drop-path) stays on torch's global generator and is redrawn. Without a stream (a plain step) a layer
draws from the global generator exactly as before.

torch.compile: the stream is read and drawn from inside `factors()`, which compilation leaves to eager
Python (a graph break); a compiled region sees only tensors, or None without a stream.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from typing import Iterator

import torch


class Stream:
    """Uniform draws from a seed, one torch generator per device, restartable to repeat them."""

    def __init__(self, seed: int):
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def restart(self) -> None:
        self._generators.clear()

    def uniform(self, n: int, device: torch.device, low: float, high: float) -> torch.Tensor:
        """n float32 draws from U[low, high), shaped (n, 1, 1, 1): one per example, as the official code."""
        g = self._generators.get(device)
        if g is None:
            g = self._generators[device] = torch.Generator(device=device)
            g.manual_seed(self.seed)
        return torch.empty(n, 1, 1, 1, device=device, dtype=torch.float32).uniform_(low, high, generator=g)


def chunk_seed(base: int, rank: int, chunk: int) -> int:
    """A seed per (step's draw, device, m-chunk): the official code splits its step key per device."""
    digest = hashlib.blake2b(f"{base}/{rank}/{chunk}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class _State:
    stream: Stream | None = None
    true_gradient: bool = False


_STATE = _State()


@contextmanager
def shared(stream: Stream | None, true_gradient: bool = False) -> Iterator[None]:
    """Run forward passes drawing the shared factors from `stream`; `true_gradient`: the ascent pass's
    backward through the forward factors."""
    before = (_STATE.stream, _STATE.true_gradient)
    _STATE.stream, _STATE.true_gradient = stream, true_gradient
    try:
        yield
    finally:
        _STATE.stream, _STATE.true_gradient = before


@torch.compiler.disable
def factors(n: int, device: torch.device, *ranges: tuple[float, float]) -> tuple[list[torch.Tensor], bool] | None:
    """One draw per example for each (low, high) in `ranges`, from the active stream, and whether the
    backward uses the forward factor; None when no stream is active (draw from the global generator)."""
    stream = _STATE.stream
    if stream is None:
        return None
    return [stream.uniform(n, device, low, high) for low, high in ranges], _STATE.true_gradient
