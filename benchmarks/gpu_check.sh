#!/usr/bin/env bash
# The engine's check on one GPU (about 10 minutes): MFU, SAM/SGD, compile, bf16 vs fp32, an embedded
# `dvc repro` on the device, a torchrun smoke run. `--device cpu` runs the same checks at toy sizes.
# One summary line per figure at the end; exit 1 when a check failed. See benchmarks/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python benchmarks/gpu_check.py "$@"
