"""Where a number came from: git commit, package versions, machine, device."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from importlib import metadata

INPUTS = ("bench", "experiments", "params.yaml", "dvc.yaml", "pyproject.toml")  # what a run's result depends on
PACKAGES = ("torch", "torchvision", "timm", "tensorflow-datasets", "numpy", "scipy", "pandas", "dvc")


@lru_cache(maxsize=1)
def git_commit() -> str:
    """HEAD's commit, with '+dirty' when tracked inputs of a run (code, table files, params) differ from it
    ('unknown' outside git). The pipeline's own outputs (runs/, results/, dvc.lock) change during
    `dvc repro` and are not inputs, so they do not count."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                *(f":(top){p}" for p in INPUTS)],
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


@lru_cache(maxsize=1)
def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_name()} ({torch.get_num_threads()} threads)"


def machine() -> str:
    import os

    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {cpu_name()}"
