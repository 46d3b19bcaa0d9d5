"""SAM's update checked against a step computed by hand on a linear model."""

import torch

from bench.train.sam import frozen_bn_stats, sam_step


def _setup():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x = torch.randn(4, 3)
    y = torch.tensor([0, 1, 1, 0])
    return model, x, y


def _loss_at(w, b, x, y):
    return torch.nn.functional.cross_entropy(x @ w.T + b, y)


def test_sam_step_matches_hand_computation():
    model, x, y = _setup()
    rho, lr = 0.05, 0.1
    w0, b0 = model.weight.detach().clone(), model.bias.detach().clone()
    # by hand: g at w, e = rho g/||g||, g_sam at w + e, w <- w - lr g_sam
    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    gw, gb = torch.autograd.grad(_loss_at(w, b, x, y), (w, b))
    norm = torch.sqrt((gw ** 2).sum() + (gb ** 2).sum())
    w2 = (w0 + rho * gw / norm).requires_grad_()
    b2 = (b0 + rho * gb / norm).requires_grad_()
    sw, sb = torch.autograd.grad(_loss_at(w2, b2, x, y), (w2, b2))
    expected_w, expected_b = w0 - lr * sw, b0 - lr * sb

    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)
    sam_step(model, opt, torch.nn.functional.cross_entropy, x, y, rho=rho)
    torch.testing.assert_close(model.weight.detach(), expected_w)
    torch.testing.assert_close(model.bias.detach(), expected_b)
    # and it differs from a plain SGD step
    assert not torch.allclose(expected_w, w0 - lr * gw)


def test_adaptive_sam_perturbation():
    model, x, y = _setup()
    rho, lr = 0.5, 0.1
    w0, b0 = model.weight.detach().clone(), model.bias.detach().clone()
    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    gw, gb = torch.autograd.grad(_loss_at(w, b, x, y), (w, b))
    norm = torch.sqrt(((w0.abs() * gw) ** 2).sum() + ((b0.abs() * gb) ** 2).sum())
    w2 = (w0 + rho * w0 ** 2 * gw / norm).requires_grad_()
    b2 = (b0 + rho * b0 ** 2 * gb / norm).requires_grad_()
    sw, sb = torch.autograd.grad(_loss_at(w2, b2, x, y), (w2, b2))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    sam_step(model, opt, torch.nn.functional.cross_entropy, x, y, rho=rho, adaptive=True)
    torch.testing.assert_close(model.weight.detach(), w0 - lr * sw)
    torch.testing.assert_close(model.bias.detach(), b0 - lr * sb)


def test_batchnorm_statistics_from_first_pass_only():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    bn = model[1]
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    ref.load_state_dict(model.state_dict())
    ref(x)  # exactly one forward pass at w in train mode
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sam_step(model, opt, torch.nn.functional.cross_entropy, x, y, rho=0.05)
    torch.testing.assert_close(bn.running_mean, ref[1].running_mean)
    torch.testing.assert_close(bn.running_var, ref[1].running_var)
    assert int(bn.num_batches_tracked) == 1


def test_frozen_bn_restores_on_error():
    bn = torch.nn.BatchNorm1d(2)
    try:
        with frozen_bn_stats(bn):
            bn(torch.randn(4, 2) + 5)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert torch.equal(bn.running_mean, torch.zeros(2))


def test_accumulation_equals_one_large_batch():
    model, x, y = _setup()
    m2 = torch.nn.Linear(3, 2)
    m2.load_state_dict(model.state_dict())
    o1, o2 = torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(m2.parameters(), lr=0.1)
    sam_step(model, o1, torch.nn.functional.cross_entropy, x, y, rho=0.05, accum_steps=1)
    sam_step(m2, o2, torch.nn.functional.cross_entropy, x, y, rho=0.05, accum_steps=2)
    torch.testing.assert_close(model.weight, m2.weight)


def _grads(w, b, x, y, l2=0.0):
    loss = _loss_at(w, b, x, y) + 0.5 * l2 * ((w ** 2).sum() + (b ** 2).sum())
    return torch.autograd.grad(loss, (w, b))


def _sam_grad(w0, b0, x, y, rho, l2=0.0):
    """One chunk's SAM gradient by hand: g at w (with the in-loss decay), e, g at w + e."""
    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    gw, gb = _grads(w, b, x, y, l2)
    norm = torch.sqrt((gw ** 2).sum() + (gb ** 2).sum())
    w2 = (w0 + rho * gw / norm).requires_grad_()
    b2 = (b0 + rho * gb / norm).requires_grad_()
    return _grads(w2, b2, x, y, l2)


def test_m_sharpness_chunks_have_their_own_perturbation():
    model, x, y = _setup()
    rho, lr = 0.05, 0.1
    w0, b0 = model.weight.detach().clone(), model.bias.detach().clone()
    # two chunks of m = 2: each its own e from its own gradient; the SAM gradients averaged
    g1 = _sam_grad(w0, b0, x[:2], y[:2], rho)
    g2 = _sam_grad(w0, b0, x[2:], y[2:], rho)
    expected_w = w0 - lr * (g1[0] + g2[0]) / 2
    expected_b = b0 - lr * (g1[1] + g2[1]) / 2
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    sam_step(model, opt, torch.nn.functional.cross_entropy, x, y, rho=rho, m=2)
    torch.testing.assert_close(model.weight.detach(), expected_w)
    torch.testing.assert_close(model.bias.detach(), expected_b)
    # differs from one perturbation for the whole batch
    whole = _sam_grad(w0, b0, x, y, rho)
    assert not torch.allclose(expected_w, w0 - lr * whole[0])


def test_m_sharpness_with_accumulation_inside_chunks():
    model, x, y = _setup()
    twin = torch.nn.Linear(3, 2)
    twin.load_state_dict(model.state_dict())
    o1, o2 = torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(twin.parameters(), lr=0.1)
    sam_step(model, o1, torch.nn.functional.cross_entropy, x, y, rho=0.05, m=2, accum_steps=1)
    sam_step(twin, o2, torch.nn.functional.cross_entropy, x, y, rho=0.05, m=2, accum_steps=4)
    torch.testing.assert_close(model.weight, twin.weight)


def test_weight_decay_in_the_loss_as_the_official_code():
    """0.5 * wd * ||w||^2 in the loss: in both gradients, so in the perturbation, then clipped."""
    model, x, y = _setup()
    rho, lr, wd, clip = 0.05, 0.1, 0.01, 0.05
    w0, b0 = model.weight.detach().clone(), model.bias.detach().clone()
    gw, gb = _sam_grad(w0, b0, x, y, rho, l2=wd)
    norm = torch.sqrt((gw ** 2).sum() + (gb ** 2).sum())
    scale = min(1.0, clip / (float(norm) + 1e-6))
    opt = torch.optim.SGD(model.parameters(), lr=lr)  # no weight decay of its own
    sam_step(model, opt, torch.nn.functional.cross_entropy, x, y, rho=rho, grad_clip=clip, l2=wd)
    torch.testing.assert_close(model.weight.detach(), w0 - lr * gw * scale)
    torch.testing.assert_close(model.bias.detach(), b0 - lr * gb * scale)


def test_m_must_divide_the_batch():
    import pytest

    model, x, y = _setup()
    with pytest.raises(ValueError, match="must divide"):
        sam_step(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.functional.cross_entropy, x, y,
                 rho=0.05, m=3)


def _bn_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))


def _one_pass_stats(model, x):
    """The running statistics one forward pass in train mode leaves, from the model's current ones."""
    twin = _bn_net()
    twin.load_state_dict(model.state_dict())
    twin(x)
    return twin[1].running_mean.clone(), twin[1].running_var.clone()


def test_batchnorm_statistics_update_once_a_step_from_the_chunks_mean():
    """The official devices each updated their own statistics once a step (from the ascent pass) and the
    averages were averaged at evaluation (flax_training.py@dae9904:537, 551, 614-615): on one device, the
    chunks' passes make one update, the mean of what each pass would have made from the step's statistics."""
    model = _bn_net()
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    (m1, v1), (m2, v2) = _one_pass_stats(model, x[:4]), _one_pass_stats(model, x[4:])
    sam_step(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.functional.cross_entropy, x, y,
             rho=0.05, m=4)
    torch.testing.assert_close(model[1].running_mean, (m1 + m2) / 2)
    torch.testing.assert_close(model[1].running_var, (v1 + v2) / 2)
    assert int(model[1].num_batches_tracked) == 1


def test_accumulated_micro_batches_update_batchnorm_once_with_their_mean():
    from bench.train.sam import sgd_step

    model = _bn_net()
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    quarters = [_one_pass_stats(model, x[i:i + 2]) for i in range(0, 8, 2)]
    sgd_step(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.functional.cross_entropy, x, y,
             accum_steps=4)
    torch.testing.assert_close(model[1].running_mean, sum(m for m, _ in quarters) / 4)
    torch.testing.assert_close(model[1].running_var, sum(v for _, v in quarters) / 4)
    assert int(model[1].num_batches_tracked) == 1
    # one pass: BatchNorm's own update, untouched
    single, ref = _bn_net(), _bn_net()
    sgd_step(single, torch.optim.SGD(single.parameters(), lr=0.1), torch.nn.functional.cross_entropy, x, y)
    ref(x)
    assert torch.equal(single[1].running_mean, ref[1].running_mean)
