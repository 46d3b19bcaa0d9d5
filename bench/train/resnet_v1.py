"""SAM Table 2's ResNets as google-research/sam builds them, as timm models (registered with `register_model`).

  sam_resnet50, sam_resnet101, sam_resnet152   sam_jax/imagenet_models/resnet.py@dae9904 (the flax ResNet V1
                                               example): bottleneck blocks of 3-4-6-3, 3-4-23-3, 3-8-36-3.

Where the official network differs from timm's resnet50, this follows the official one:
  * no ReLU after the stem's BatchNorm (:86-90: conv_init, bn_init, then the max pool);
  * TensorFlow's 'SAME' padding: a 3x3 window of stride 2 over an even size is padded after (bottom,
    right) only, where torch pads both sides (the stem's max pool :90, padded with -inf, and the strided
    3x3 convolutions :57); stride 1 pads one pixel each side, as torch;
  * flax's default initialisation (:80, :100 pass none): convolutions and the classifier lecun-normal,
    which jax 0.2.6 (requirements.txt) draws from a normal truncated at two standard deviations, scaled
    to variance 1 / fan_in; the classifier's bias 0.
As timm's: the stride in the 3x3 convolution (:57), the last BatchNorm of each block zero-initialised (:61),
projection shortcuts (convolution and BatchNorm) where the shape changes (:63-65), BatchNorm momentum 0.9 in
flax's convention (torch's 0.1) and epsilon 1e-5 (:81-84), global average pooling and a dense layer
(:99-100). The parameter counts equal timm's resnet50/101/152.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.models import register_model
from torch import nn

TRUNCATED_STD = 0.87962566103423978  # the standard deviation of a standard normal truncated to (-2, 2)


def _lecun_normal_(weight: torch.Tensor) -> None:
    """jax.nn.initializers.lecun_normal: variance_scaling(1.0, 'fan_in', 'truncated_normal')."""
    std = math.sqrt(1.0 / weight[0].numel()) / TRUNCATED_STD  # fan_in: in_channels x kernel area, or in_features
    nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


def _same(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow's 'SAME' padding of `x` for a square window: the odd pixel goes after."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


class _Bottleneck(nn.Module):
    def __init__(self, cin: int, filters: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv1, self.bn1 = nn.Conv2d(cin, filters, 1, bias=False), nn.BatchNorm2d(filters)
        # stride 1: 'SAME' is torch's padding 1; stride 2 pads in forward (_same)
        self.conv2 = nn.Conv2d(filters, filters, 3, stride, padding=1 if stride == 1 else 0, bias=False)
        self.bn2 = nn.BatchNorm2d(filters)
        self.conv3, self.bn3 = nn.Conv2d(filters, 4 * filters, 1, bias=False), nn.BatchNorm2d(4 * filters)
        nn.init.zeros_(self.bn3.weight)  # norm(y, scale_init=nn.initializers.zeros), resnet.py:61
        self.proj = None
        if stride != 1 or cin != 4 * filters:
            self.proj = nn.Sequential(nn.Conv2d(cin, 4 * filters, 1, stride, bias=False), nn.BatchNorm2d(4 * filters))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(_same(y, 3, self.stride) if self.stride > 1 else y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (self.proj(x) if self.proj is not None else x))


class ResNetV1(nn.Module):
    def __init__(self, stage_sizes: tuple[int, ...], num_classes: int = 1000, in_chans: int = 3,
                 num_filters: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, num_filters, 7, 2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(num_filters)
        blocks, cin = [], num_filters
        for i, size in enumerate(stage_sizes):
            for j in range(size):
                filters = num_filters * 2 ** i
                blocks.append(_Bottleneck(cin, filters, 2 if i > 0 and j == 0 else 1))
                cin = 4 * filters
        self.blocks = nn.Sequential(*blocks)
        self.num_features = cin
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                _lecun_normal_(m.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv1(x))  # no ReLU here (resnet.py:89-90)
        x = F.max_pool2d(_same(x, 3, 2, float("-inf")), 3, 2)
        x = self.blocks(x)
        return self.fc(x.mean((2, 3)))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.num_features, num_classes).to(self.fc.weight.device)
        _lecun_normal_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)


_TIMM_ONLY = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def _build(stage_sizes: tuple[int, ...], pretrained: bool, kwargs: dict) -> ResNetV1:
    if pretrained:
        raise ValueError("google-research/sam's ResNets: no pretrained weights (trained from scratch)")
    for key in _TIMM_ONLY:
        kwargs.pop(key, None)
    return ResNetV1(stage_sizes, **kwargs)


@register_model
def sam_resnet50(pretrained: bool = False, **kwargs) -> ResNetV1:
    return _build((3, 4, 6, 3), pretrained, kwargs)


@register_model
def sam_resnet101(pretrained: bool = False, **kwargs) -> ResNetV1:
    return _build((3, 4, 23, 3), pretrained, kwargs)


@register_model
def sam_resnet152(pretrained: bool = False, **kwargs) -> ResNetV1:
    return _build((3, 8, 36, 3), pretrained, kwargs)
