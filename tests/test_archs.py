"""SAM Table 1's CIFAR architectures (bench.train.cifar), registered with timm: sizes and initialisation against
the official code (google-research/sam at dae9904), and the stochastic mixing of Shake-Shake and ShakeDrop."""

from __future__ import annotations

import pytest
import timm
import torch

import bench.train.cifar  # noqa: F401  (registers the models)
from bench.train.cifar import PyramidNet, ShakeShake, WideResNet, _ShakeDrop, shake


def _params(name: str, **kwargs) -> tuple[int, int]:
    """(all parameters, convolution weights), built on the meta device."""
    with torch.device("meta"):
        m = timm.create_model(name, **{"num_classes": 10, **kwargs})
    conv = sum(p.numel() for mod in m.modules() if isinstance(mod, torch.nn.Conv2d) for p in mod.parameters())
    return sum(p.numel() for p in m.parameters()), conv


def test_parameter_counts_match_the_official_code():
    # google-research/sam at dae9904, counted from its shapes (BatchNorm scale and bias are parameters):
    # WRN-28-10 with average-pool and zero-padding shortcuts (wide_resnet.py:66-83) has 36,220,634 for
    # CIFAR-10; 1x1 projections would add 16*160 + 160*320 + 320*640 = 258,560 (the 36.5M of Zagoruyko &
    # Komodakis). Shake-Shake 26 2x96d: 26.2M (Gastaldi 2017, Table 1).
    assert _params("wrn28_10")[0] == 36_220_634
    assert _params("wrn28_10", num_classes=100)[0] == 36_278_324
    assert _params("shake_shake_26_2x96d")[0] == 26_192_922
    assert _params("shake_shake_26_2x96d", num_classes=100)[0] == 26_227_572
    # PyramidNet-272, alpha 200, bottleneck: 26.0M (Han et al. 2017, Table 4) counts the convolutions' weights;
    # BatchNorm and the classifier add 0.2M (widths rounded, as pyramidnet.py:217). ShakeDrop adds none.
    total, conv = _params("pyramidnet272")
    assert conv / 1e6 == pytest.approx(26.0, abs=0.05) and total == 26_210_842
    assert _params("pyramidnet272_shakedrop") == (total, conv)


@pytest.mark.parametrize("model", [WideResNet(depth=10, widen=1, num_classes=100), ShakeShake(depth=8, width=8,
                                   num_classes=100), PyramidNet(depth=11, alpha=12, num_classes=100)])
def test_the_classifier_starts_uniform_in_one_over_root_classes_with_a_zero_bias(model):
    """sam_jax/models/utils.py@dae9904:64-79 (dense_layer_init_fn), for the new head of reset_classifier too."""
    for fc in (model.fc, (model.reset_classifier(10), model.fc)[1]):
        bound = 1 / fc.out_features ** 0.5
        w = fc.weight.detach()
        assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound and w.std() > 0.5 * bound / 3 ** 0.5
        assert torch.equal(fc.bias.detach(), torch.zeros(fc.out_features))


def test_wrn_shortcuts_pool_and_pad_the_block_input_as_the_official_code():
    """wide_resnet.py@dae9904:111-119: the network's first block adds its activated input, every other block
    its raw input; :79-82: average-pooled by the stride and zero-padded where the width changes."""
    torch.manual_seed(0)
    net = WideResNet(depth=10, widen=2).eval()  # one block a group: 16 -> 32 (stride 1), 32 -> 64, 64 -> 128
    assert not any(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1) for m in net.modules())
    x = torch.randn(2, 16, 8, 8)
    for block, stride in zip(net.blocks, (1, 2, 2)):
        torch.nn.init.zeros_(block.conv2.weight)  # the residual branch adds nothing: the output is the shortcut
        with torch.no_grad():
            out = block(x)
            s = torch.relu(block.bn1(x)) if block is net.blocks[0] else x
            expected = torch.nn.functional.pad(torch.nn.functional.avg_pool2d(s, stride, stride),
                                               (0, 0, 0, 0, 0, out.shape[1] - x.shape[1]))
        torch.testing.assert_close(out, expected, rtol=0, atol=0)
        x = torch.randn_like(out)


def test_the_shake_shake_shortcut_takes_the_raw_input():
    """wide_resnet_shakeshake.py@dae9904:70-100: no ReLU before the two 1x1 convolutions."""
    torch.manual_seed(0)
    shortcut = ShakeShake(depth=8, width=8).blocks[0].shortcut.eval()
    x = -torch.rand(2, 16, 8, 8)  # negative: a ReLU would zero it
    with torch.no_grad():
        shifted = torch.nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        expected = shortcut.bn(torch.cat([shortcut.conv1(x), shortcut.conv2(shifted)], 1))
        torch.testing.assert_close(shortcut(x), expected, rtol=0, atol=0)
        assert shortcut(x).abs().sum() > 0


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
