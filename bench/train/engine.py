"""How a run uses its device: which one, precision, memory format, compilation, fused optimizers.

On CUDA: bf16 autocast (when the card supports it), channels_last for
convolutional models (where it helps: cuDNN's NHWC kernels; a ViT has one
convolution), TF32 matmuls for what stays in float32, fused optimizer steps,
and `torch.compile` when asked. On CPU: the same code in float32, nothing
else. Every choice is recorded in the run's metrics.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError

PRECISIONS = ("auto", "fp32", "bf16")


def _gpus_present() -> str | None:
    """A sign that this machine has NVIDIA GPUs (their device files), whatever torch can use."""
    return next((p for p in ("/dev/nvidia0", "/dev/nvidiactl") if Path(p).exists()), None)


def pick_device(requested: str = "auto") -> str:
    """`auto`: CUDA when torch can use it, else the CPU; but never the CPU by accident on a machine with
    GPUs (a driver older than torch's CUDA build, a CPU-only torch), where a run would take weeks."""
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        hidden = os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1")  # GPUs hidden on purpose
        gpu = None if hidden else _gpus_present()
        if gpu:
            raise BenchError(f"device auto: this machine has NVIDIA GPUs ({gpu} exists) but torch "
                             f"{torch.__version__} cannot use them (torch.cuda.is_available() is False; CUDA "
                             f"build {torch.version.cuda or 'none: a CPU-only torch'}): usually a driver older "
                             "than that CUDA build. Fix the driver or torch, or train on the CPU on purpose "
                             "with --device cpu (params.yaml: train.device: cpu)")
        return "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError(f"device {requested!r} requested but CUDA is not available")
    return requested


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
