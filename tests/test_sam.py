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
