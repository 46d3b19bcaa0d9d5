"""benchmarks/gpu_check.sh: the one command a GPU user runs first, tested at toy sizes on the CPU (slow)."""

from __future__ import annotations

import re
import subprocess

import pytest
import torch

from conftest import ROOT


def _run(device: str, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "benchmarks/gpu_check.sh", "--device", device], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_gpu_check_runs_every_check_at_toy_sizes_on_the_cpu():
    out = _run("cpu", 1200)  # about 880 s on the shared 2-core machine under load, the embedded repro 670 of them
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    summary = dict(re.findall(r"^(\w+)=(.*)$", out.stdout.split("== gpu_check summary ==")[1], flags=re.M))
    assert float(summary["sam_over_sgd"]) > 1.0 and float(summary["loader_over_step"]) > 0
    assert summary["mfu"].startswith("n/a") and "the check ran" in summary["compile_speedup"]
    assert summary["mfu_b7"].startswith("n/a (CPU") and "the check ran" in summary["mfu_b7"]
    assert "the check ran: 0.0" in summary["bf16_vs_fp32"]  # fp32 against fp32 on the CPU: identical losses
    assert " ok in " in summary["embedded_repro"] and "equal to the committed CPU verdicts" in \
        summary["embedded_repro"]
    assert summary["torchrun_1gpu"] == "ok"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_check_on_the_gpu():
    out = _run("cuda", 1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "mfu=" in out.stdout and "% of" in out.stdout.split("== gpu_check summary ==")[1]
    assert re.search(r"^mfu_b7=[0-9.]+% of", out.stdout, flags=re.M)
