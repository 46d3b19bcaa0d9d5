"""The CIFAR architectures of SAM's Table 1, as timm models (registered with timm's `register_model`).

A table entry names them like any timm model; `model_kwargs` reach the
constructors (e.g. `depth`, `widen`, `alpha`, `drop_rate`).

  wrn28_10               Wide ResNet 28-10 (Zagoruyko & Komodakis 2016, arXiv:1605.07146): pre-activation
                         basic blocks, widths 160/320/640, with google-research/sam's shortcuts (average
                         pooling and zero channel padding, no projection): 36.2M parameters.
  shake_shake_26_2x96d   Shake-Shake 26 2x96d (Gastaldi 2017, arXiv:1705.07485): two residual branches
                         mixed by a random convex weight forward and another backward ("Shake-Shake-Image"),
                         widths 96/192/384, 26.2M parameters.
  pyramidnet272          PyramidNet-272, alpha 200, bottleneck (Han et al. 2017, arXiv:1610.02915): widths
                         growing by alpha / 90 per block, zero-padded identity shortcuts, 26.0M parameters.
  pyramidnet272_shakedrop  the same with ShakeDrop (Yamada et al. 2019, arXiv:1802.02375) on every residual
                         branch, p_L = 0.5 with the linear decay rule.

Initialisation as google-research/sam (sam_jax/models/utils.py@dae9904): convolutions
He-normal, fan-out (:60-61); BatchNorm scale 1, bias 0, momentum 0.9 in flax's convention (torch's
0.1), epsilon 1e-5 (:28-29, torch's defaults); the classifier uniform in +-1/sqrt(classes) with a
zero bias (:64-79). The test suite checks each parameter count against the official code's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.models import register_model
from torch import nn

from bench.train import draws


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


def _kaiming(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            _init_fc(m)


def _init_fc(fc: nn.Linear) -> nn.Linear:
    """The official classifier: weights U(-1/sqrt(classes), 1/sqrt(classes)), bias 0 (utils.py@dae9904:64-79:
    flax's kernel is (in, out), so `shape[1]` is the number of classes)."""
    bound = 1.0 / math.sqrt(fc.out_features)
    nn.init.uniform_(fc.weight, -bound, bound)
    nn.init.zeros_(fc.bias)
    return fc


class _Classified(nn.Module):
    """The networks' shared ending and timm's classifier interface: `stem`, then `blocks`, then `bn`
    (an identity where the network has no final BatchNorm), ReLU, global average pooling and `fc`."""

    stem: nn.Module
    blocks: nn.Sequential
    bn: nn.Module
    fc: nn.Linear

    def _head(self, channels: int, num_classes: int, final_bn: bool = True) -> None:
        self.bn = nn.BatchNorm2d(channels) if final_bn else nn.Identity()
        self.fc = nn.Linear(channels, num_classes)
        _kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.blocks(self.stem(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.fc = _init_fc(nn.Linear(self.fc.in_features, num_classes).to(self.fc.weight.device))


# ---------------------------------------------------------------- Wide ResNet


class _WideBlock(nn.Module):
    """Pre-activation basic block with google-research/sam's shortcut (wide_resnet.py@dae9904:66-83, 111-119):
    the raw block input (the activated one in the network's first block, `first`), average-pooled by the
    stride and zero-padded to the new width where the width changes; no projection."""

    def __init__(self, cin: int, cout: int, stride: int, drop_rate: float, first: bool = False):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), _conv3x3(cin, cout, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), _conv3x3(cout, cout)
        self.drop_rate, self.first, self.stride = drop_rate, first, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        y = F.relu(self.bn2(self.conv1(o)))
        y = self.conv2(F.dropout(y, self.drop_rate, self.training))
        s = o if self.first else x
        if s.shape[1] != y.shape[1]:
            if self.stride > 1:
                s = F.avg_pool2d(s, self.stride, self.stride)
            s = F.pad(s, (0, 0, 0, 0, 0, y.shape[1] - s.shape[1]))
        return y + s


class WideResNet(_Classified):
    def __init__(self, depth: int = 28, widen: int = 10, num_classes: int = 10, in_chans: int = 3,
                 drop_rate: float = 0.0):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n + 4, got {depth}")
        n, widths = (depth - 4) // 6, (16, 16 * widen, 32 * widen, 64 * widen)
        self.stem = _conv3x3(in_chans, widths[0])
        blocks, cin = [], widths[0]
        for stage, cout in enumerate(widths[1:]):
            for i in range(n):
                first = not stage and not i  # the official activate_before_residual (wide_resnet.py:175, 219)
                blocks.append(_WideBlock(cin, cout, 2 if stage and not i else 1, drop_rate, first))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self._head(cin, num_classes)


# ---------------------------------------------------------------- Shake-Shake


class _Shake(torch.autograd.Function):
    """alpha * a + (1 - alpha) * b forward, with beta in place of alpha backward; one draw per image, both
    from torch's global generator (beta at backward time): a plain step's draws."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        alpha = torch.rand(a.shape[0], 1, 1, 1, device=a.device, dtype=a.dtype)
        return alpha * a + (1 - alpha) * b

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        beta = torch.rand(grad.shape[0], 1, 1, 1, device=grad.device, dtype=grad.dtype)
        return beta * grad, (1 - beta) * grad


class _Mix(torch.autograd.Function):
    """alpha * a + (1 - alpha) * b forward, beta in place of alpha backward, for given factors."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(beta)
        return alpha * a + (1 - alpha) * b

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (beta,) = ctx.saved_tensors
        return beta * grad, (1 - beta) * grad, None, None


def shake(a: torch.Tensor, b: torch.Tensor, training: bool) -> torch.Tensor:
    """Shake-Shake's mix (models/utils.py@dae9904:82-132). In SAM's passes (bench.train.draws) alpha and beta
    come from the chunk's stream, the same in both passes; the ascent pass backpropagates through alpha
    (true_gradient, :111-112), the descent pass uses beta (:113-118)."""
    if not training:
        return 0.5 * (a + b)
    drawn = draws.factors(a.shape[0], a.device, (0.0, 1.0), (0.0, 1.0))
    if drawn is None:
        return _Shake.apply(a, b)
    (alpha, beta), true_gradient = drawn
    alpha, beta = alpha.to(a.dtype), beta.to(a.dtype)
    return alpha * a + (1 - alpha) * b if true_gradient else _Mix.apply(a, b, alpha, beta)


class _ShakeBranch(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__(nn.ReLU(), _conv3x3(cin, cout, stride), nn.BatchNorm2d(cout), nn.ReLU(),
                         _conv3x3(cout, cout), nn.BatchNorm2d(cout))


class _ShakeShortcut(nn.Module):
    """Two 1x1 convolutions on the input and on the input shifted by one pixel, concatenated (Gastaldi); no
    ReLU before them, as google-research/sam (wide_resnet_shakeshake.py@dae9904:70-100: the raw block input)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(cin, cout // 2, 1, bias=False)
        self.conv2 = nn.Conv2d(cin, cout - cout // 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.avg_pool2d(x, 1, self.stride)
        b = F.avg_pool2d(F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1)), 1, self.stride)
        return self.bn(torch.cat([self.conv1(a), self.conv2(b)], 1))


class _ShakeBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.a, self.b = _ShakeBranch(cin, cout, stride), _ShakeBranch(cin, cout, stride)
        self.shortcut = _ShakeShortcut(cin, cout, stride) if stride != 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shake(self.a(x), self.b(x), self.training) + (self.shortcut(x) if self.shortcut is not None else x)


class ShakeShake(_Classified):
    def __init__(self, depth: int = 26, width: int = 96, num_classes: int = 10, in_chans: int = 3):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"Shake-Shake depth must be 6n + 2, got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(_conv3x3(in_chans, 16), nn.BatchNorm2d(16))
        blocks, cin = [], 16
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                blocks.append(_ShakeBlock(cin, cout, 2 if stage and not i else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self._head(cin, num_classes, final_bn=False)  # Gastaldi's network ends on the blocks' own BatchNorm


# ---------------------------------------------------------------- PyramidNet and ShakeDrop


class _ShakeDrop(torch.autograd.Function):
    """ShakeDrop: with probability 1 - p_keep the branch is scaled by alpha in [-1, 1] forward and by beta in
    [0, 1] backward (one gate and one draw per image); kept branches pass unchanged. All from torch's global
    generator (beta at backward time): a plain step's draws."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p_keep: float) -> torch.Tensor:
        shape = (x.shape[0], 1, 1, 1)
        gate = torch.bernoulli(torch.full(shape, p_keep, device=x.device, dtype=x.dtype))
        ctx.save_for_backward(gate)
        alpha = torch.empty(shape, device=x.device, dtype=x.dtype).uniform_(-1.0, 1.0)
        return x * (gate + (1 - gate) * alpha)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (gate,) = ctx.saved_tensors
        beta = torch.rand(gate.shape, device=grad.device, dtype=grad.dtype)
        return grad * (gate + (1 - gate) * beta), None


class _Scale(torch.autograd.Function):
    """x * forward_factor, with backward_factor in its place backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, forward_factor: torch.Tensor, backward_factor: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(backward_factor)
        return x * forward_factor

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (backward_factor,) = ctx.saved_tensors
        return grad * backward_factor, None, None


def shake_drop(x: torch.Tensor, p_keep: float, training: bool) -> torch.Tensor:
    """ShakeDrop (models/utils.py@dae9904:135-205); p_keep x at evaluation (E[gate + (1 - gate) alpha]). In SAM's
    passes (bench.train.draws) alpha and beta come from the chunk's stream, the same in both passes, while the
    gate stays on the global generator and is redrawn, as the official Bernoulli draw (utils.py:166, on the
    hardware generator of sam_jax/train.py:76-84); the ascent pass backpropagates through the forward factor
    (true_gradient, :179-180), the descent pass through gate + (1 - gate) beta (:181-183)."""
    if not training:
        return x * p_keep
    drawn = draws.factors(x.shape[0], x.device, (-1.0, 1.0), (0.0, 1.0))
    if drawn is None:
        return _ShakeDrop.apply(x, p_keep)
    (alpha, beta), true_gradient = drawn
    gate = torch.bernoulli(torch.full(alpha.shape, p_keep, device=x.device, dtype=torch.float32))
    forward = (gate + (1 - gate) * alpha).to(x.dtype)
    if true_gradient:
        return x * forward
    return _Scale.apply(x, forward, (gate + (1 - gate) * beta).to(x.dtype))


class _PyramidBottleneck(nn.Module):
    def __init__(self, cin: int, planes: int, stride: int, p_keep: float | None):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(),
            _conv3x3(planes, planes, stride), nn.BatchNorm2d(planes), nn.ReLU(),
            nn.Conv2d(planes, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4))
        self.stride, self.p_keep = stride, p_keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if self.p_keep is not None:
            y = shake_drop(y, self.p_keep, self.training)
        shortcut = F.avg_pool2d(x, 2, ceil_mode=True) if self.stride != 1 else x
        pad = y.shape[1] - shortcut.shape[1]
        return y + (F.pad(shortcut, (0, 0, 0, 0, 0, pad)) if pad else shortcut)


class PyramidNet(_Classified):
    def __init__(self, depth: int = 272, alpha: int = 200, num_classes: int = 10, in_chans: int = 3,
                 shakedrop: float | None = None):
        super().__init__()
        if (depth - 2) % 9:
            raise ValueError(f"bottleneck PyramidNet depth must be 9n + 2, got {depth}")
        n = (depth - 2) // 9
        total, rate = 3 * n, alpha / (3 * n)
        self.stem = nn.Sequential(_conv3x3(in_chans, 16), nn.BatchNorm2d(16))
        blocks, cin, width = [], 16, 16.0
        for k in range(total):
            width += rate
            planes = int(round(width))
            # ShakeDrop's linear decay rule: p_l = 1 - (l / L) (1 - p_L)
            p_keep = None if shakedrop is None else 1 - (k + 1) / total * (1 - shakedrop)
            blocks.append(_PyramidBottleneck(cin, planes, 2 if k in (n, 2 * n) else 1, p_keep))
            cin = planes * 4
        self.blocks = nn.Sequential(*blocks)
        self._head(cin, num_classes)


# ---------------------------------------------------------------- timm registrations

_TIMM_ONLY = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def _build(cls, pretrained: bool, kwargs: dict, **defaults):
    if pretrained:
        raise ValueError(f"{cls.__name__}: no pretrained weights (a from-scratch CIFAR model)")
    for key in _TIMM_ONLY:
        kwargs.pop(key, None)
    return cls(**{**defaults, **kwargs})


@register_model
def wrn28_10(pretrained: bool = False, **kwargs) -> WideResNet:
    return _build(WideResNet, pretrained, kwargs, depth=28, widen=10)


@register_model
def shake_shake_26_2x96d(pretrained: bool = False, **kwargs) -> ShakeShake:
    return _build(ShakeShake, pretrained, kwargs, depth=26, width=96)


@register_model
def pyramidnet272(pretrained: bool = False, **kwargs) -> PyramidNet:
    return _build(PyramidNet, pretrained, kwargs, depth=272, alpha=200)


@register_model
def pyramidnet272_shakedrop(pretrained: bool = False, **kwargs) -> PyramidNet:
    return _build(PyramidNet, pretrained, kwargs, depth=272, alpha=200, shakedrop=0.5)
