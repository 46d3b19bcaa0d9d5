"""What one training image costs a model: FLOPs and the memory autograd keeps.

Measured, not modelled: timm's model is built on the meta device (no weights,
no memory, milliseconds), one forward and backward runs under torch's
FlopCounterMode (with the backward of a grouped convolution counted right:
flop_counter) with saved-tensor hooks counting what autograd stores. The
per-image figures are half the difference between a batch of 4 and one of 2
(BatchNorm needs two images), so the weights autograd also saves are not
counted as activations.

Two users: `bench suite cost` (the cost of a suite before launch) and the
engine's micro-batch cap (`micro_batch: auto`), which sizes the largest
micro-batch that fits the card from the same estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Bytes per parameter that training holds besides activations: fp32 weights, gradients, two optimizer
# slots (Adam's moments; SGD's momentum uses one of them), and SAM's perturbation and averaged gradients.
STATE_BYTES_PER_PARAM = 16
SAM_EXTRA_BYTES_PER_PARAM = 8
# Share of the card the cap plans for: the allocator's fragmentation, cuDNN/cuBLAS workspaces and the
# CUDA context take the rest.
USABLE_FRACTION = 0.8


def _conv_backward_flop(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                        _output_padding, _groups, output_mask, out_shape=None, **kwargs) -> int:
    """aten.convolution_backward: grad_input and grad_weight each take the forward's multiply-adds.

    torch's own formula (torch/utils/flop_counter.py, conv_backward_flop, torch 2.14) counts grad_weight as a
    convolution of the input and grad_output with batch and channels swapped, which drops the weight's
    1/groups: a grouped convolution's grad_weight comes out `groups` times too large (a depthwise conv's as
    many times as it has channels: EfficientNet-b7's training step 17 times over). The forward and
    grad_input formulas read the channels from the grouped weight (C_out, C_in/groups, *k) and are right;
    this one reuses them. grad_bias is a reduction, not counted (as torch does not)."""
    from torch.utils.flop_counter import conv_flop_count

    forward = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def flop_counter():
    """torch's FlopCounterMode with the backward of a grouped (depthwise) convolution counted right."""
    from torch.utils.flop_counter import FlopCounterMode

    return FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: _conv_backward_flop})


@dataclass(frozen=True)
class Footprint:
    flops_per_image: float  # forward and backward
    saved_bytes_per_image: float  # fp32; bf16 autocast keeps about half
    params: int
    batchnorm: bool = False  # the model has BatchNorm layers
    input_bytes_per_image: float = 0.0  # one fp32 input image, as the loader puts it on the device

    def activation_bytes(self, images: int, precision: str) -> float:
        return self.saved_bytes_per_image * images * (0.5 if precision == "bf16" else 1.0)

    def state_bytes(self, sam: bool) -> float:
        return self.params * (STATE_BYTES_PER_PARAM + (SAM_EXTRA_BYTES_PER_PARAM if sam else 0))

    def input_bytes(self, batch: int) -> float:
        """The step's whole batch (this device's share of it), which stays on the device through the step:
        4.1 GiB for EfficientNet-b7's 1,024 images at 600 px."""
        return self.input_bytes_per_image * batch

    def peak_bytes(self, micro: int, precision: str, sam: bool, batch: int) -> float:
        """The estimated peak of a step: one micro-batch's activations, the state, the batch on the device.
        Measured on an H200 (benchmarks/memory_check.py): within 1% for EfficientNet-b7 at 600 px, plain
        and SAM; 0.59 of the estimate for ViT-B/16 at 384 px (README, "measured on")."""
        return self.activation_bytes(micro, precision) + self.state_bytes(sam) + self.input_bytes(batch)

    def largest_micro_batch(self, card_bytes: float, precision: str, sam: bool, batch: int = 0) -> int:
        """The largest micro-batch whose estimated peak fits USABLE_FRACTION of the card (at least 1);
        `batch`: the examples of a step on this device (held on it through the step)."""
        room = card_bytes * USABLE_FRACTION - self.state_bytes(sam) - self.input_bytes(batch)
        per_image = self.activation_bytes(1, precision)
        return max(1, math.floor(room / per_image)) if per_image > 0 else 1 << 30


def measure(model: str, kwargs: dict, resolution: int, in_chans: int, num_classes: int | None = None
            ) -> Footprint:
    import timm

    import bench.train.cifar  # noqa: F401  (registers the harness's own timm models: the CIFAR architectures)
    import bench.train.resnet_v1  # noqa: F401  (and google-research/sam's ImageNet ResNets)

    def run(m, batch: int) -> tuple[float, int]:
        saved = [0]

        def pack(t):
            saved[0] += t.numel() * t.element_size()
            return t

        x = torch.randn(batch, in_chans, resolution, resolution)
        with flop_counter() as counter:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                out = m(x)
            out.float().sum().backward()
        return float(counter.get_total_flops()), saved[0]

    extra = {} if num_classes is None else {"num_classes": num_classes}
    with torch.device("meta"):
        m = timm.create_model(model, pretrained=False, in_chans=in_chans, **extra, **kwargs)
        flops2, saved2 = run(m, 2)
        flops4, saved4 = run(m, 4)
    from torch.nn.modules.batchnorm import _BatchNorm

    return Footprint((flops4 - flops2) / 2, float(saved4 - saved2) / 2, sum(p.numel() for p in m.parameters()),
                     any(isinstance(x, _BatchNorm) for x in m.modules()), 4.0 * in_chans * resolution ** 2)


def plan_footprint(plan) -> Footprint:
    """A plan's model at its recipe's resolution (1 input channel for the embedded digits, 3 otherwise:
    what the data spec gives, without opening the data)."""
    in_chans = 1 if plan.dataset.name == "sklearn_digits" else 3
    return measure(plan.model, plan.model_kwargs, plan.recipe.resolution, in_chans)


def planned_micro_batch(recipe, footprint: Footprint, card_bytes: float, setting, precision: str = "bf16"
                        ) -> tuple[int, str | None]:
    """(examples per forward pass a run on this card will take, why a cap set by hand would be refused),
    by the rule the run applies (bench.train.micro.choose), from the footprint instead of the model."""
    from bench.train.micro import choose, parse, recipe_micro_batch

    natural = recipe_micro_batch(recipe, 1)
    setting = parse(setting)
    fits = (footprint.largest_micro_batch(card_bytes, precision, recipe.optimizer.sam is not None,
                                          recipe.batch_size) if setting == "auto" else None)
    cap, blocked = choose(natural, setting, fits, footprint.batchnorm and not recipe.freeze_bn)
    refused = (f"micro_batch {blocked} is refused: BatchNorm trains, whose statistics it would change"
               if blocked is not None and setting != "auto" else None)
    return (cap if cap is not None else natural), refused
