"""Checkpoint files, written atomically (temporary file, fsync, rename).

A full disk or an unwritable directory is a clear BenchError naming the file,
and leaves neither a partial file nor the temporary one behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.provenance import digest


def write_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    import torch  # here, not at import: the stages that write no weights (select without a grid) stay light

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BenchError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def weights_sha256(state: dict[str, Any]) -> str:
    """A digest of a state dict's names, dtypes, shapes and bytes: two runs with the same digest hold the
    same weights bit for bit, whether or not the weights themselves were kept."""
    import torch

    def parts():
        for name in sorted(state):
            t = state[name]
            if not isinstance(t, torch.Tensor):
                continue
            t = t.detach().cpu().contiguous()
            yield f"{name}|{t.dtype}|{tuple(t.shape)}|"
            if t.numel():  # the raw bytes (a 0-d tensor viewed as one element first)
                yield t.reshape(-1).view(torch.uint8).numpy().tobytes()

    return digest(parts())
