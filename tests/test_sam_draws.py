"""The randomness of SAM's two passes as google-research/sam has it (bench.train.draws): Shake-Shake's factors and
ShakeDrop's alpha and beta the same in the ascent and the descent pass of each m-chunk and micro-batch, ShakeDrop's
keep gate drawn anew (the official Bernoulli draws ignore the key: sam_jax/train.py@dae9904:76-84), the ascent pass
backpropagating through the forward factors (true_gradient); a plain step draws exactly as before."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.train import cifar, draws
from bench.train.cifar import PyramidNet, ShakeShake, shake, shake_drop
from bench.train.sam import sam_step, sgd_step


# ---------------------------------------------------------------- the plain step, as before this module existed

class _OldShake(torch.autograd.Function):  # bench/train/cifar.py before bench.train.draws, verbatim
    @staticmethod
    def forward(ctx, a, b):
        alpha = torch.rand(a.shape[0], 1, 1, 1, device=a.device, dtype=a.dtype)
        return alpha * a + (1 - alpha) * b

    @staticmethod
    def backward(ctx, grad):
        beta = torch.rand(grad.shape[0], 1, 1, 1, device=grad.device, dtype=grad.dtype)
        return beta * grad, (1 - beta) * grad


class _OldShakeDrop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p_keep):
        shape = (x.shape[0], 1, 1, 1)
        gate = torch.bernoulli(torch.full(shape, p_keep, device=x.device, dtype=x.dtype))
        ctx.save_for_backward(gate)
        alpha = torch.empty(shape, device=x.device, dtype=x.dtype).uniform_(-1.0, 1.0)
        return x * (gate + (1 - gate) * alpha)

    @staticmethod
    def backward(ctx, grad):
        (gate,) = ctx.saved_tensors
        beta = torch.rand(gate.shape, device=grad.device, dtype=grad.dtype)
        return grad * (gate + (1 - gate) * beta), None


def _plain_steps(make, monkeypatch=None) -> tuple[list[torch.Tensor], torch.Tensor]:
    torch.manual_seed(0)
    model = make().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))
    for _ in range(2):
        sgd_step(model, opt, F.cross_entropy, x, y, grad_clip=5.0, l2=5e-4)
    return [t.detach().clone() for t in model.state_dict().values()], torch.get_rng_state()


@pytest.mark.parametrize("make", [lambda: ShakeShake(depth=8, width=4),
                                  lambda: PyramidNet(depth=11, alpha=12, shakedrop=0.5)])
def test_a_plain_step_is_bit_for_bit_the_one_before(make, monkeypatch):
    new, new_rng = _plain_steps(make)
    monkeypatch.setattr(cifar, "shake", lambda a, b, training: _OldShake.apply(a, b) if training else 0.5 * (a + b))
    monkeypatch.setattr(cifar, "shake_drop", lambda x, p, training: _OldShakeDrop.apply(x, p) if training else x * p)
    old, old_rng = _plain_steps(make)
    assert all(torch.equal(a, b) for a, b in zip(new, old)) and torch.equal(new_rng, old_rng)


# ---------------------------------------------------------------- the two passes of SAM's step

def _record(monkeypatch) -> tuple[list, list]:
    """Every shared draw (with the pass's true_gradient flag) and every Bernoulli gate, in order."""
    shared, gates = [], []
    uniform, bernoulli = draws.Stream.uniform, torch.bernoulli

    def recorded_uniform(self, *args):
        out = uniform(self, *args)
        shared.append((draws._STATE.true_gradient, out.clone()))
        return out

    def recorded_bernoulli(*args, **kwargs):
        out = bernoulli(*args, **kwargs)
        gates.append(out.clone())
        return out

    monkeypatch.setattr(draws.Stream, "uniform", recorded_uniform)
    monkeypatch.setattr(torch, "bernoulli", recorded_bernoulli)
    return shared, gates


def _passes(records: list, n: int = 4) -> list[list]:
    size = len(records) // n
    assert size and size * n == len(records)
    return [records[i * size:(i + 1) * size] for i in range(n)]


def _sam(model, compile_backend: str | None = None) -> None:
    torch.manual_seed(1)
    x, y = torch.randn(64, 3, 8, 8), torch.randint(0, 10, (64,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    forward = torch.compile(model, backend=compile_backend) if compile_backend else model
    # two m-chunks of 32, each in two micro-batches of 16: ascent and descent of chunk 0, then of chunk 1
    sam_step(forward, opt, F.cross_entropy, x, y, rho=0.05, accum_steps=4, m=32)


def _check_replayed(shared: list, gates: list, gated: bool) -> None:
    asc0, desc0, asc1, desc1 = _passes(shared)
    for ascent, descent in ((asc0, desc0), (asc1, desc1)):
        assert all(flag for flag, _ in ascent) and not any(flag for flag, _ in descent)  # true gradient: ascent only
        assert all(torch.equal(a, d) for (_, a), (_, d) in zip(ascent, descent))  # the same factors
    assert not any(torch.equal(a, b) for (_, a), (_, b) in zip(asc0, asc1))  # each chunk its own (each device's key)
    if gated:
        g_asc0, g_desc0, g_asc1, g_desc1 = _passes(gates)
        assert not torch.equal(torch.cat(g_asc0), torch.cat(g_desc0))  # the keep gate is drawn anew
        assert not torch.equal(torch.cat(g_asc1), torch.cat(g_desc1))
    else:
        assert gates == []


def test_shake_shake_factors_are_the_same_in_both_passes_of_each_chunk_and_micro_batch(monkeypatch):
    shared, gates = _record(monkeypatch)
    torch.manual_seed(0)
    net = ShakeShake(depth=8, width=4)
    _sam(net.train())
    assert len(shared) == 4 * 2 * 2 * 3  # 4 passes x 2 micro-batches x 3 blocks x (alpha, beta)
    _check_replayed(shared, gates, gated=False)
    alpha, beta = shared[0][1], shared[1][1]
    assert alpha.shape == (16, 1, 1, 1) and not torch.equal(alpha, beta)  # per example; forward and backward differ


def test_shakedrop_alpha_and_beta_are_the_same_in_both_passes_and_its_gate_is_redrawn(monkeypatch):
    shared, gates = _record(monkeypatch)
    torch.manual_seed(0)
    net = PyramidNet(depth=11, alpha=12, shakedrop=0.5)
    _sam(net.train())
    assert len(shared) == 4 * 2 * 2 * 3 and len(gates) == 4 * 2 * 3
    _check_replayed(shared, gates, gated=True)
    alpha, beta = shared[0][1], shared[1][1]
    assert alpha.min() < 0 < beta.min()  # alpha in [-1, 1), beta in [0, 1)


@pytest.mark.slow
def test_the_passes_share_their_factors_under_torch_compile(monkeypatch):
    shared, gates = _record(monkeypatch)
    torch.manual_seed(0)
    torch._dynamo.reset()
    _sam(PyramidNet(depth=11, alpha=12, shakedrop=0.5).train(), compile_backend="aot_eager")
    _check_replayed(shared, gates, gated=True)


# ---------------------------------------------------------------- true gradient in the ascent pass only

def _replay(seed: int, n: int, *ranges) -> list[torch.Tensor]:
    stream = draws.Stream(seed)
    return [stream.uniform(n, torch.device("cpu"), lo, hi) for lo, hi in ranges]


@pytest.mark.parametrize("true_gradient", [True, False])
def test_shake_shake_backward_uses_alpha_in_the_ascent_pass_and_beta_in_the_descent_pass(true_gradient):
    """models/utils.py@dae9904:111-112 (true_gradient: plain autodiff of alpha a + (1 - alpha) b) and :113-118."""
    a, b = torch.randn(16, 2, 3, 3, requires_grad=True), torch.randn(16, 2, 3, 3, requires_grad=True)
    g = torch.randn(16, 2, 3, 3)
    with draws.shared(draws.Stream(7), true_gradient=true_gradient):
        out = shake(a, b, training=True)
    out.backward(g)
    alpha, beta = _replay(7, 16, (0.0, 1.0), (0.0, 1.0))
    torch.testing.assert_close(out, alpha * a + (1 - alpha) * b, rtol=0, atol=0)
    factor = alpha if true_gradient else beta
    torch.testing.assert_close(a.grad, factor * g, rtol=0, atol=0)
    torch.testing.assert_close(b.grad, (1 - factor) * g, rtol=0, atol=0)


@pytest.mark.parametrize("true_gradient", [True, False])
def test_shakedrop_backward_uses_the_forward_factor_in_the_ascent_pass_and_beta_in_the_descent_pass(true_gradient):
    """models/utils.py@dae9904:179-180 (true_gradient: x * rand_forward) and :181-183 (gate + (1 - gate) beta)."""
    x = torch.ones(4000, 1, 1, 1, requires_grad=True)
    with draws.shared(draws.Stream(3), true_gradient=true_gradient):
        out = shake_drop(x, 0.5, training=True)
    out.sum().backward()
    alpha, beta = _replay(3, 4000, (-1.0, 1.0), (0.0, 1.0))
    kept = out.detach() == 1
    assert 0.45 < kept.float().mean() < 0.55 and torch.equal(out.detach()[~kept], alpha[~kept])
    expected = out.detach() if true_gradient else torch.where(kept, 1.0, beta)
    torch.testing.assert_close(x.grad, expected, rtol=0, atol=0)
    assert (x.grad < 0).any() == true_gradient  # alpha's sign reaches the gradient only with true_gradient
