"""Checkpoint files, written atomically (temporary file, fsync, rename)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def write_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
