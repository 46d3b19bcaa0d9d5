"""How a run uses its device: precision, memory format, compilation, fused optimizers.

On CUDA: bf16 autocast (when the card supports it), channels_last for
convolutional models (where it helps: cuDNN's NHWC kernels; a ViT has one
convolution), TF32 matmuls for what stays in float32, fused optimizer steps,
and `torch.compile` when asked. On CPU: the same code in float32, nothing
else. Every choice is recorded in the run's metrics.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Any

import torch

from bench.errors import BenchError

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class Engine:
    device: str
    precision: str  # "fp32" or "bf16" (resolved)
    channels_last: bool
    compile: bool

    def autocast(self):
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.split(":")[0], dtype=torch.bfloat16)
        return nullcontext()

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def optimizer_kwargs(self) -> dict[str, Any]:
        """Fused optimizer kernels on CUDA (one kernel for all parameters)."""
        return {"fused": True} if self.device.startswith("cuda") else {}

    def record(self) -> dict[str, Any]:
        return asdict(self)


def _convolutional(model: torch.nn.Module) -> bool:
    return sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) > 1


def make_engine(device: str, model: torch.nn.Module, precision: str = "auto", channels_last: str = "auto",
                compile: bool = False) -> Engine:
    if precision not in PRECISIONS:
        raise BenchError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    cuda = device.startswith("cuda")
    if precision == "auto":
        precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    if precision == "bf16" and not cuda:
        raise BenchError("bf16 needs CUDA here; on CPU the engine trains in float32 (precision: auto or fp32)")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True  # float32 matmuls on tensor cores (10-bit mantissa)
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    last = cuda and _convolutional(model) if channels_last == "auto" else channels_last in (True, "true", "on")
    return Engine(device, precision, bool(last), bool(compile))
