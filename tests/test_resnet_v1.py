"""SAM Table 2's ResNets as google-research/sam builds them (bench.train.resnet_v1): sizes, the stem without a
ReLU, TensorFlow's 'SAME' padding, and flax's default initialisation (sam_jax/imagenet_models/resnet.py@dae9904)."""

from __future__ import annotations

import math

import pytest
import timm
import torch
import torch.nn.functional as F

import bench.train.resnet_v1  # noqa: F401  (registers the models)
from bench.train.resnet_v1 import ResNetV1, _same


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_the_same_parameters_as_timms_resnets(depth):
    with torch.device("meta"):
        ours, timms = timm.create_model(f"sam_resnet{depth}"), timm.create_model(f"resnet{depth}")
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in timms.parameters())


def test_same_padding_is_tensorflows():
    """flax's padding='SAME' (resnet.py:57 strided 3x3 convolutions, :90 the stem's max pool) is TensorFlow's:
    a stride-2 window over an even size is padded after only."""
    tf = pytest.importorskip("tensorflow")
    torch.manual_seed(0)
    x, w = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3)
    x_tf = tf.constant(x.permute(0, 2, 3, 1).numpy())
    conv_tf = tf.nn.conv2d(x_tf, tf.constant(w.permute(2, 3, 1, 0).numpy()), 2, "SAME").numpy()
    pool_tf = tf.nn.max_pool2d(x_tf, 3, 2, "SAME").numpy()
    conv = F.conv2d(_same(x, 3, 2), w, stride=2)
    pool = F.max_pool2d(_same(x, 3, 2, float("-inf")), 3, 2)
    torch.testing.assert_close(conv, torch.from_numpy(conv_tf).permute(0, 3, 1, 2), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pool, torch.from_numpy(pool_tf).permute(0, 3, 1, 2), rtol=0, atol=0)
    assert not torch.allclose(conv, F.conv2d(x, w, stride=2, padding=1))  # torch's symmetric padding differs


def test_no_relu_after_the_stem_batchnorm():
    """resnet.py@dae9904:86-90: conv_init, bn_init, max pool."""
    torch.manual_seed(0)
    net = ResNetV1((1, 1), num_classes=10).eval()
    seen = {}
    net.blocks.register_forward_pre_hook(lambda m, args: seen.update(x=args[0]))
    net(torch.randn(2, 3, 32, 32))
    expected = F.max_pool2d(_same(net.bn1(net.conv1(torch.randn(0, 3, 32, 32))), 3, 2, float("-inf")), 3, 2)
    assert seen["x"].shape[1:] == expected.shape[1:] and (seen["x"] < 0).any()


def test_flax_default_initialisation():
    """lecun_normal (jax 0.2.6: truncated at 2 standard deviations, variance 1 / fan_in) for convolutions and the
    classifier, a zero bias (resnet.py:80, :100 pass no initialiser); the last BatchNorm of each block starts at 0
    (:61)."""
    torch.manual_seed(0)
    net = ResNetV1((1, 1), num_classes=1000, num_filters=16)
    for w in (net.conv1.weight, net.blocks[1].conv2.weight, net.fc.weight):
        target = math.sqrt(1 / w[0].numel())
        assert w.detach().std() == pytest.approx(target, rel=0.05)
        assert w.detach().abs().max() <= 2 * target / 0.87962566103423978
    assert torch.equal(net.fc.bias.detach(), torch.zeros(1000))
    assert all(float(b.bn3.weight.detach().abs().sum()) == 0 for b in net.blocks)
    net.reset_classifier(10)
    assert net.fc.out_features == 10 and torch.equal(net.fc.bias.detach(), torch.zeros(10))
