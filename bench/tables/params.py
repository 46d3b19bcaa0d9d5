"""params.yaml: which suite the pipeline runs, with which seeds.

A suite is a named list of table files (`suites:`); `suite:` picks the one
`dvc repro` trains. DVC expands the `train` matrix from `entries` x `seeds`,
where `entries` lists the suite's entries that run (`bench suite use NAME`
rewrites `suite` and `entries` together). Collect, stats and the report cover
every table of every suite, so tables not run yet still appear, their cells
marked as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import TableError, choices
from bench.tables import yamlfile
from bench.tables.table import Table, load_tables
from bench.tables.schema import SEED_MAX


@dataclass(frozen=True)
class Params:
    path: str
    suite: str
    suites: dict[str, list[str]]
    seeds: list[int]
    entries: list[str]
    raw: dict[str, Any]

    @property
    def tables(self) -> list[str]:
        """The table files of the selected suite."""
        return self.suites[self.suite]

    @property
    def all_tables(self) -> list[str]:
        """Every table file of every suite, each once, in suite order."""
        return list(dict.fromkeys(t for files in self.suites.values() for t in files))

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name) or {}
        if not isinstance(value, dict):
            raise TableError(self.path, name, f"expected a mapping, got {type(value).__name__}")
        return value


def load_params(path: str | Path = "params.yaml") -> Params:
    path = str(path)
    raw = yamlfile.read_file(path)  # duplicate keys refused, with their line
    if not isinstance(raw, dict):
        raise TableError(path, "", "expected a mapping at the top level")

    def str_list(value: Any, key: str) -> list[str]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise TableError(path, key, "expected a non-empty list of strings")
        return value

    suites = raw.get("suites")
    if not isinstance(suites, dict) or not suites:
        raise TableError(path, "suites", "expected a mapping of suite name -> list of table files")
    suites = {str(k): str_list(v, f"suites.{k}") for k, v in suites.items()}
    suite = raw.get("suite")
    if suite not in suites:
        raise TableError(path, "suite", f"unknown suite {suite!r}; {choices(str(suite), suites)}")
    seeds = raw.get("seeds")
    if not isinstance(seeds, list) or not seeds:
        raise TableError(path, "seeds", "expected a non-empty list of integer seeds")
    bad = [s for s in seeds if not (isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= SEED_MAX)]
    if bad:
        raise TableError(path, "seeds", f"seeds must be integers in [0, 2**31), got {bad[0]!r} in {seeds!r:.80}")
    if len(set(seeds)) != len(seeds):
        raise TableError(path, "seeds", "seeds must be distinct")
    return Params(path, suite, suites, seeds, str_list(raw.get("entries"), "entries"), raw)


def runnable(tables: dict[str, Table]) -> list[str]:
    """Entries with train stages of their own: not derived, not unavailable."""
    return [eid for t in tables.values() for eid, e in t.entries.items() if e.runs]


def load_suite(params: Params) -> dict[str, Table]:
    """The selected suite's tables, checked against the params' entry list (the DVC matrix)."""
    tables = load_tables(params.tables)
    declared, listed = set(runnable(tables)), set(params.entries)
    if declared != listed:
        missing, extra = sorted(declared - listed), sorted(listed - declared)
        parts = [f"missing {missing}" if missing else "", f"not runnable in suite {params.suite!r}: {extra}"
                 if extra else ""]
        raise TableError(params.path, "entries",
                         "must list every runnable entry of the suite's tables: " + "; ".join(p for p in parts if p)
                         + f". Run `bench suite use {params.suite}` to regenerate the list.")
    return tables


def load_all(params: Params) -> dict[str, Table]:
    """Every table of every suite (what collect, stats and the report cover)."""
    return load_tables(params.all_tables)


def write_suite(path: str | Path, suite: str, entries: list[str], seeds: list[int] | None = None) -> None:
    """Set `suite:` (and `seeds:` when given) and replace the `entries:` block of params.yaml, keeping the
    rest as written."""
    from bench.io import write_text

    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if seeds is not None:
        at = next((i for i, line in enumerate(lines) if line.startswith("seeds:")), None)
        text = f"seeds: [{', '.join(str(s) for s in seeds)}]"
        if at is None:
            lines.append(text)
        else:
            comment = lines[at][lines[at].index("#"):] if "#" in lines[at] else ""
            lines[at] = text + (f"  {comment}" if comment else "")
    for i, line in enumerate(lines):
        if line.startswith("suite:"):
            comment = line[line.index("#"):] if "#" in line else ""
            lines[i] = f"suite: {suite}" + (f"  {comment}" if comment else "")
            break
    else:
        lines.insert(0, f"suite: {suite}")
    write_text(path, "\n".join(replace_list(lines, "entries", entries)) + "\n")


def replace_list(lines: list[str], key: str, items: list[str]) -> list[str]:
    """params.yaml's lines with the top-level list `key:` replaced by `items` (appended when absent),
    everything else kept as written."""
    lines = list(lines)
    start = next((i for i, line in enumerate(lines) if line.startswith(f"{key}:")), None)
    block = [f"{key}:"] + [f"  - {e}" for e in items]
    if start is None:
        return lines + block
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "-")) or not lines[end].strip()):
        end += 1
    lines[start:end] = block
    return lines


def selected_suite(path: str | Path = "params.yaml") -> tuple[Params, dict[str, Table]]:
    """Params and the selected suite's tables (checked against the params' entry list)."""
    params = load_params(path)
    return params, load_suite(params)


def every_suite(path: str | Path = "params.yaml") -> tuple[Params, dict[str, Table]]:
    """Params and every table of every suite (collect, stats and the report cover them all)."""
    params = load_params(path)
    load_suite(params)  # the selected suite must agree with the entry list
    return params, load_all(params)
