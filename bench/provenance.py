"""Where a number came from: git commit, package versions, machine, device; and content digests.

    digest(parts)      -> SHA-256 (hex) of byte or text parts, the project's one content hash:
    json_sha256(value) -> of a JSON value in canonical form (resume fingerprints, study and select keys)
    file_sha256(path)  -> of a file's bytes (a run's table file)
    closure(roots)     -> the bench modules some entry points can run (a stage's code, the study's code digest)
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

PACKAGE = Path(__file__).resolve().parent  # the bench package
CODE = ("bench", "pyproject.toml")  # the code a result depends on (with its table file: `git_commit(table)`)
PACKAGES = ("torch", "torchvision", "timm", "tensorflow-datasets", "numpy", "scipy", "pandas", "dvc")


@lru_cache(maxsize=8)
def git_commit(*files: str) -> str:
    """HEAD's commit, with '+dirty' when the code (bench/, pyproject.toml) or the given files (a run's
    table file) differ from it; 'unknown' outside git. Everything else (params.yaml, which `bench suite
    use` and `dvc exp run -S` rewrite; dvc.lock and the outputs, which `dvc repro` rewrites; other
    tables) does not decide a run's number, so it does not make the run dirty."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                *(f":(top){p}" for p in (*CODE, *files))],
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def digest(parts: Iterable[bytes | str]) -> str:
    """The SHA-256 (hex) of the parts one after the other (text as UTF-8), read as they come: a generator
    of large parts (a model's tensors) is hashed without holding them all."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()


def json_sha256(value: Any) -> str:
    """The digest of a JSON value in canonical form: sorted keys, and anything JSON has no type for as str()."""
    return digest([json.dumps(value, sort_keys=True, default=str)])


def file_sha256(path: str | Path | None) -> str | None:
    """The SHA-256 of a file's bytes (a run's table file, as it was when the run started), or None."""
    try:
        return digest([Path(path).read_bytes()]) if path else None
    except OSError:
        return None


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


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """The package's modules by dotted name (a package's by its __init__.py)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path, known: dict[str, Path], top_level_only: bool = False) -> set[str]:
    """The modules of `known` that `path` imports, at module level or inside functions (`from a import b`:
    a.b when that is a module); a module that calls pkgutil.iter_modules (a registry that finds its kinds)
    imports every module of its package."""
    import ast

    out = set()
    tree = ast.parse(path.read_text())
    for node in (tree.body if top_level_only else ast.walk(tree)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    text = path.read_text()
    if "pkgutil.iter_modules" in text and not top_level_only:  # a registry that imports its package's modules
        out.update(m for m, p in known.items() if p.parent == path.parent)
    own = {m for m, p in known.items() if p == path}
    return {m for m in out if m in known and m not in own}


def closure(roots: Iterable[str], package: Path = PACKAGE) -> set[str]:
    """The modules `roots` can run: every import (module level or in a function), transitively, and the
    packages they sit in (whose __init__ runs first; of those, only module-level imports are followed:
    bench/cli/__init__.py imports every subcommand group, whose handlers a stage does not run). What a
    DVC stage depends on (tests/test_structure.py), and what the study's code digest hashes."""
    known = modules(package)
    seen: dict[str, bool] = {}  # module -> whether its function-level imports were followed too
    todo = [(r, False) for r in roots]
    while todo:
        m, as_parent = todo.pop()
        if m in seen and (seen[m] or as_parent):  # a package met first as a parent is read again in full
            continue
        seen[m] = not as_parent
        todo += [(n, False) for n in imports(known[m], known, top_level_only=as_parent)]
        parent = m.rpartition(".")[0]
        if parent in known:
            todo.append((parent, True))
    return set(seen)
