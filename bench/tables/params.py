"""params.yaml: which suite the pipeline runs, with which seeds.

A suite is a named list of table files (`suites:`); `suite:` picks the one
`dvc repro` trains. DVC expands the `train` matrix from `entries` x `seeds`,
where `entries` lists the suite's entries that run (`bench suite use NAME`
rewrites `suite` and `entries` together). Collect, stats and the report cover
every table of every suite, so tables not run yet still appear, their cells
marked as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import TableError, choices
from bench.tables import yamlfile
from bench.tables.schema import ID_RE, SEED_MAX, Checker, parse, spec
from bench.tables.table import Table, load_tables

DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:[0-9]+)?)$")
SWITCH = ("true", "false")  # quoted in params.yaml: DVC passes them to the commands as written


def _device(c: Checker, value: str, path: str) -> str:
    if not DEVICE_RE.match(value):
        raise c.fail(path, f"unknown device {value!r}: expected auto (CUDA when present, else the CPU), cpu, cuda "
                           "or cuda:N")
    return value


def _micro_batch(c: Checker, raw: Any, path: str) -> str | int:
    """auto, off, or a positive number of examples (what `--micro-batch` takes: bench.train.micro.parse)."""
    if raw in ("auto", "off") or isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1:
        return raw
    raise c.fail(path, f"expected auto, off or a positive number of examples, got {raw!r:.60}")


@dataclass(frozen=True, kw_only=True)
class Train:
    """How the stages that train run (dvc.yaml passes each to `bench select`, `train` and `study cell`)."""

    device: str = spec("auto (CUDA when present, else the CPU), cpu, cuda or cuda:N", "auto", check=_device)
    threads: int = spec("torch CPU threads per stage (0: torch's choice; a study cell's trials reproduce "
                        "exactly only at the same count)", 1, lo=0, hi=1024)
    precision: str = spec("auto: bf16 autocast on CUDA, float32 on the CPU", "auto", choices=("auto", "fp32", "bf16"),
                          noun="precision")
    channels_last: str = spec("auto: on CUDA, for convolutional models", "auto", choices=("auto", *SWITCH),
                              noun="setting")
    compile: str = spec("\"true\": torch.compile the model", "false", choices=SWITCH, noun="setting")
    micro_batch: Any = spec("most examples per forward pass (the update is unchanged): auto (CUDA: what fits the "
                            "card), off (the recipe's) or a number", "auto", reader=_micro_batch,
                            type_doc="auto, off or an integer >= 1")
    checkpoint_every: int = spec("steps between resume points (0: only on SIGTERM or SIGUSR2)", 500, lo=0,
                                 hi=1_000_000_000)
    keep_checkpoint: str = spec("\"true\": the final weights in runs/<entry>/<seed>/checkpoint.pt (DVC cache)",
                                "false", choices=SWITCH, noun="setting")


@dataclass(frozen=True, kw_only=True)
class Stats:
    """The statistics of `bench stats` and `bench power`."""

    alpha: float = spec("the tests' significance level", 0.05, lo=1e-6, hi=0.5)


@dataclass(frozen=True, kw_only=True)
class Report:
    """The report's page."""

    title: str = spec("the report's title", "Reproducibility report")


def _suites(c: Checker, raw: Any, path: str) -> dict[str, list[str]]:
    out = {}
    for name, files in c.mapping(raw, path).items():
        where = f"{path}.{name}"
        c.ident(name, where)
        if not isinstance(files, list) or not files:
            raise c.fail(where, f"expected a non-empty list of table files, got {files!r:.60}")
        for i, f in enumerate(files):
            if not isinstance(f, str) or not f.strip():
                raise c.fail(f"{where}[{i}]", f"expected a table file's path, got {f!r:.60}")
        out[name] = list(files)
    if not out:
        raise c.fail(path, "expected at least one suite")
    return out


def _seeds(c: Checker, value: tuple, path: str) -> tuple:
    bad = [s for s in value if not 0 <= s <= SEED_MAX]
    if bad:
        raise c.fail(path, f"seeds must be integers in [0, 2**31), got {bad[0]!r} in {list(value)!r:.80}")
    if len(value) < 2:
        raise c.fail(path, f"expected at least two seeds (a verdict compares runs' spread), got {list(value)}")
    if len(set(value)) != len(value):
        raise c.fail(path, f"seeds must be distinct, got {list(value)!r:.80}")
    return value


def _ids(c: Checker, value: tuple, path: str) -> tuple:
    if not value:
        raise c.fail(path, "expected a non-empty list of entry ids")
    for i, v in enumerate(value):
        c.ident(v, f"{path}[{i}]")
    if len(set(value)) != len(value):
        raise c.fail(path, f"entry {next(v for v in value if value.count(v) > 1)!r} is listed twice")
    return value


def _cells(c: Checker, value: tuple, path: str) -> tuple:
    for i, cell in enumerate(value):
        parts = cell.split(".")
        if len(parts) != 3 or not all(ID_RE.match(p) for p in parts):
            raise c.fail(f"{path}[{i}]", f"{cell!r:.60} is not a study cell <study>.<arm>.<dataset>")
    if len(set(value)) != len(value):
        raise c.fail(path, f"cell {next(v for v in value if value.count(v) > 1)!r} is listed twice")
    return value


@dataclass(frozen=True, kw_only=True)
class Params:
    """params.yaml: what `dvc repro` runs and how (every stage reads its part through DVC)."""

    path: str = spec("the file", filled=True)
    suite: str = spec("the suite `dvc repro` trains: one of `suites` (`bench suite use NAME` sets it)")
    suites: dict[str, list[str]] = spec("suite name -> its table files", reader=_suites,
                                        type_doc="mapping of name -> list of table files")
    seeds: tuple[int, ...] = spec("the seeds every entry trains with: at least two, distinct, in [0, 2**31)",
                                  check=_seeds)
    entries: tuple[str, ...] = spec("the selected suite's entries that run: the train matrix (`bench suite use` "
                                    "writes them)", check=_ids)
    study_cells: tuple[str, ...] = spec("the study cells `dvc repro` runs, <study>.<arm>.<dataset> (`bench study "
                                        "use` writes them)", (), check=_cells)
    train: Train = spec("how the stages that train run", Train())
    stats: Stats = spec("the statistics", Stats())
    report: Report = spec("the report", Report())
    raw: dict = spec("the file as read (plain data)", filled=True)

    def __post_init__(self):
        for name in ("seeds", "entries", "study_cells"):  # lists, as the file has them
            object.__setattr__(self, name, list(getattr(self, name)))

    def check(self, c: Checker, path: str) -> None:
        if self.suite not in self.suites:
            raise c.fail("suite", f"unknown suite {self.suite!r}; {choices(str(self.suite), self.suites)}")

    @property
    def tables(self) -> list[str]:
        """The table files of the selected suite."""
        return self.suites[self.suite]

    @property
    def all_tables(self) -> list[str]:
        """Every table file of every suite, each once, in suite order."""
        return list(dict.fromkeys(t for files in self.suites.values() for t in files))


def load_params(path: str | Path = "params.yaml") -> Params:
    """params.yaml read and checked field by field against the declaration above (TableError: file and field)."""
    path = str(path)
    raw = yamlfile.read_file(path)
    plain = yamlfile.plain(raw) if isinstance(raw, dict) else {}
    return parse(Params, Checker(path), raw, "", filled={"path": path, "raw": plain})


def check_study_cells(params: Params, tables: dict[str, Table]) -> dict:
    """Every study cell params.yaml names exists: its study file, its arm and its dataset. The studies, by id."""
    from bench.tables.study import STUDY_DIR, load_study

    studies: dict = {}
    for i, cell in enumerate(params.study_cells):
        sid, arm, dataset = cell.split(".")
        where = f"study_cells[{i}]"
        if sid not in studies:
            if not (STUDY_DIR / f"{sid}.yaml").is_file():
                known = sorted(p.stem for p in STUDY_DIR.glob("*.yaml"))
                raise TableError(params.path, where, f"{cell!r}: unknown study {sid!r}; {choices(sid, known)}")
            studies[sid] = load_study(sid, tables)
        study = studies[sid]
        for part, valid, noun in ((arm, study.arms, "arm"), (dataset, study.datasets, "dataset")):
            if part not in valid:
                raise TableError(params.path, where, f"{cell!r}: study {sid} has no {noun} {part!r}; "
                                                     f"{choices(part, valid)}")
    return studies


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


def suite_seeds(params: Params, tables: dict[str, Table]) -> tuple[list[int], str]:
    """The seeds a suite runs, and why: 0..N-1 for the N its main table (the suite's first file) asks for in
    its `seeds:`, else params.yaml's. DVC's train matrix is entries x one list of seeds, so every entry of
    the suite runs that many; the suite's other tables are views of the same runs (ReaL, top-5, Table 3)
    or ride along (Table 9's VTAB tasks), and `bench validate` notes where one asks for more."""
    main = next(iter(tables.values()), None)
    if main is None or not main.seeds:
        return params.seeds, "params.yaml's seeds (the suite's main table sets none)"
    return list(range(main.seeds)), f"{main.id}'s seeds, the suite's main table"


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
