"""Atomic file output (write to a temporary file beside the target, then rename), and JSON input.

A killed stage never leaves a half-written metrics.json, CSV or HTML: readers see
the old file or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.errors import BenchError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    """Write `text` atomically; the file gets the usual permissions (0666 less the umask: readable by
    others, as any file a tool writes), not the temporary file's private 0600."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise BenchError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise BenchError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise BenchError(f"{path} not found: {what}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BenchError(f"{path} is not valid JSON ({exc}); rerun the stage that writes it") from None


def series_dir(run_dir: str | Path) -> Path:
    """Where a run's per-step logs are (dvclive's layout): written by bench.train.steplog, drawn by the
    report's learning curves and by `dvc plots show`."""
    return Path(run_dir) / "dvclive" / "plots" / "metrics" / "train"
