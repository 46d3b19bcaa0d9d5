"""SAM Table 1's CIFAR architectures (bench.train.cifar), registered with timm: sizes against their papers,
and the stochastic mixing of Shake-Shake and ShakeDrop."""

from __future__ import annotations

import pytest
import timm
import torch

import bench.train.cifar  # noqa: F401  (registers the models)
from bench.train.cifar import PyramidNet, ShakeShake, WideResNet, _ShakeDrop, shake


def _params(name: str, **kwargs) -> tuple[int, int]:
    """(all parameters, convolution weights), built on the meta device."""
    with torch.device("meta"):
        m = timm.create_model(name, num_classes=10, **kwargs)
    conv = sum(p.numel() for mod in m.modules() if isinstance(mod, torch.nn.Conv2d) for p in mod.parameters())
    return sum(p.numel() for p in m.parameters()), conv


def test_parameter_counts_match_the_papers():
    # WRN-28-10: 36.5M (Zagoruyko & Komodakis 2016, Table 3); Shake-Shake 26 2x96d: 26.2M (Gastaldi 2017, Table 1)
    assert _params("wrn28_10")[0] / 1e6 == pytest.approx(36.5, abs=0.05)
    assert _params("shake_shake_26_2x96d")[0] / 1e6 == pytest.approx(26.2, abs=0.05)
    # PyramidNet-272, alpha 200, bottleneck: 26.0M (Han et al. 2017, Table 4) counts the convolutions' weights;
    # BatchNorm and the classifier add 0.2M. ShakeDrop adds no parameters.
    total, conv = _params("pyramidnet272")
    assert conv / 1e6 == pytest.approx(26.0, abs=0.05) and total / 1e6 == pytest.approx(26.2, abs=0.05)
    assert _params("pyramidnet272_shakedrop") == (total, conv)


@pytest.mark.parametrize("model", [WideResNet(depth=10, widen=1), ShakeShake(depth=8, width=8),
                                   PyramidNet(depth=11, alpha=12, shakedrop=0.5)])
def test_small_versions_train_and_evaluate_on_cifar_sized_images(model):
    x = torch.randn(4, 3, 32, 32)
    model.train()
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (4, 10)
        assert torch.equal(model(x), model(x))  # evaluation is deterministic


def test_a_table_names_them_like_any_timm_model():
    m = timm.create_model("wrn28_10", num_classes=100, in_chans=3, drop_rate=0.3)
    assert m.get_classifier().out_features == 100 and m.blocks[0].drop_rate == 0.3
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model("wrn28_10", pretrained=True)


def test_shake_shake_mixes_forward_and_backward_with_independent_draws():
    a, b = torch.zeros(1000, 1, 1, 1, requires_grad=True), torch.ones(1000, 1, 1, 1, requires_grad=True)
    torch.manual_seed(0)
    out = shake(a, b, training=True)  # 1 - alpha per image
    out.sum().backward()
    alpha = 1 - out.detach().flatten()
    beta = a.grad.flatten()
    assert torch.allclose(a.grad + b.grad, torch.ones_like(a.grad))  # beta and 1 - beta
    assert 0 <= alpha.min() and alpha.max() <= 1 and alpha.std() > 0.25  # uniform on [0, 1]
    assert not torch.allclose(alpha, beta)  # another draw backward
    assert torch.equal(shake(a, b, training=False), torch.full_like(a, 0.5))


def test_shakedrop_keeps_a_branch_with_its_probability_and_scales_it_at_evaluation():
    x = torch.ones(20000, 1, 1, 1, requires_grad=True)
    torch.manual_seed(0)
    y = _ShakeDrop.apply(x, 0.7)
    kept = (y.detach() == 1).float().mean()
    assert kept == pytest.approx(0.7, abs=0.02)
    dropped = y.detach()[y.detach() != 1]
    assert dropped.min() >= -1 and dropped.max() <= 1  # alpha in [-1, 1]
    y.sum().backward()
    g = x.grad.flatten()
    assert torch.equal(g[(y.detach() == 1).flatten()], torch.ones(int(kept * 20000)))  # kept: gradient unchanged
    assert g[(y.detach() != 1).flatten()].min() >= 0  # dropped: beta in [0, 1]
    net = PyramidNet(depth=11, alpha=12, shakedrop=0.5).eval()
    assert [b.p_keep for b in net.blocks] == pytest.approx([1 - 1 / 3 * 0.5, 1 - 2 / 3 * 0.5, 0.5])
