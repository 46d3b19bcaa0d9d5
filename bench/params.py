"""params.yaml: which tables the pipeline runs, with which seeds.

DVC expands the `train` matrix from `entries` x `seeds`; the per-entry recipe
lives in the table files and reaches each stage through `plan/<entry>.json`,
so editing one entry reruns only that entry's stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.errors import TableError
from bench.experiments import Table, load_tables


@dataclass(frozen=True)
class Params:
    path: str
    tables: list[str]
    seeds: list[int]
    entries: list[str]
    raw: dict[str, Any]

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name) or {}
        if not isinstance(value, dict):
            raise TableError(self.path, name, f"expected a mapping, got {type(value).__name__}")
        return value


def load_params(path: str | Path = "params.yaml") -> Params:
    path = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TableError(path, "", f"cannot read the file: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise TableError(path, "", f"malformed YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise TableError(path, "", "expected a mapping at the top level")

    def str_list(key: str) -> list[str]:
        value = raw.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise TableError(path, key, "expected a non-empty list of strings")
        return value

    seeds = raw.get("seeds")
    if not isinstance(seeds, list) or not seeds:
        raise TableError(path, "seeds", "expected a non-empty list of integer seeds")
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**31 for s in seeds):
        raise TableError(path, "seeds", f"seeds must be integers in [0, 2**31), got {seeds!r:.80}")
    if len(set(seeds)) != len(seeds):
        raise TableError(path, "seeds", "seeds must be distinct")
    return Params(path, str_list("tables"), seeds, str_list("entries"), raw)


def load_suite(params: Params) -> dict[str, Table]:
    """The params' tables, checked against the params' entry list (the DVC matrix)."""
    tables = load_tables(params.tables)
    declared = {eid for t in tables.values() for eid in t.entries}
    listed = set(params.entries)
    if declared != listed:
        missing, extra = sorted(declared - listed), sorted(listed - declared)
        parts = [f"missing {missing}" if missing else "", f"not in any table {extra}" if extra else ""]
        raise TableError(params.path, "entries",
                         "must list every entry of the tables in `tables`: " + "; ".join(p for p in parts if p)
                         + ". Run `bench suite --write` to regenerate the list.")
    return tables


def write_entries(path: str | Path, entries: list[str]) -> None:
    """Replace the `entries:` block of params.yaml, keeping the rest of the file as written."""
    from bench.io import write_text

    lines = Path(path).read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("entries:")), None)
    block = ["entries:"] + [f"  - {e}" for e in entries]
    if start is None:
        lines += block
    else:
        end = start + 1
        while end < len(lines) and (lines[end].startswith((" ", "-")) or not lines[end].strip()):
            end += 1
        lines[start:end] = block
    write_text(path, "\n".join(lines) + "\n")
