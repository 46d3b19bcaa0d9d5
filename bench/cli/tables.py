"""The subcommands over table files and results: `bench validate | schema | suite | published | verdict | show`."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

from bench.errors import BenchError


def cmd_validate(args) -> int:
    from bench.tables.table import load_tables
    from bench.tables.params import load_all, load_params, selected_suite
    from bench.train.preflight import check_resources

    if args.files:
        tables = load_tables(args.files)
    else:
        params = load_params(args.params)
        from bench.tables.params import check_study_cells
        from bench.tables.study import STUDY_DIR, load_studies

        found = {str(p) for p in Path("experiments").rglob("*.yaml") if STUDY_DIR not in p.parents}
        missing = sorted(found - set(params.all_tables))
        if missing:
            raise BenchError(f"{params.path}: suites: table files in no suite: {', '.join(missing)}")
        tables = load_all(params)
        for name in params.suites:  # each suite must load on its own (derived entries resolve inside it)
            load_tables(params.suites[name])
        selected_suite(args.params)
        studies = load_studies(sorted(STUDY_DIR.glob("*.yaml")), tables)
        check_study_cells(params, tables)
    check_resources(tables)
    n = sum(len(t.entries) for t in tables.values())
    extra = f", {len(studies)} studies" if not args.files else ""
    print(f"ok: {len(tables)} tables, {n} entries valid{extra}")
    if not args.files:
        from bench.tables.params import suite_seeds

        selected = load_tables(params.tables)
        asked = len(suite_seeds(params, selected)[0])
        if len(params.seeds) < asked:
            print(f"note: suite {params.suite} runs {len(params.seeds)} seeds where its main table asks for {asked}; "
                  f"`bench suite use {params.suite}` sets them")
        more = [f"{t.id} {t.seeds}" for t in selected.values() if t.seeds and t.seeds > len(params.seeds)]
        if more:
            print(f"note: the suite runs {len(params.seeds)} seeds; {', '.join(more)} recommended by `bench power` "
                  "(DVC's train matrix is one seed list a suite)")
    return 0


def cmd_suite(args) -> int:
    from bench.tables.table import load_tables
    from bench.tables.params import load_params, runnable, suite_seeds, write_suite

    params = load_params(args.params)
    if args.action == "list":
        for name, files in params.suites.items():
            tables = load_tables(files)
            n, k = len(runnable(tables)), len(suite_seeds(params, tables)[0])
            mark = "*" if name == params.suite else " "
            print(f"{mark} {name:<14} {n:>4} entries x {k} seeds = {n * k:>4} train stages  ({', '.join(files)})")
        return 0
    name = args.name or params.suite
    if name not in params.suites:
        from bench.errors import choices

        raise BenchError(f"unknown suite {name!r}; {choices(name, params.suites)}")
    tables = load_tables(params.suites[name])
    entries = runnable(tables)
    if args.seeds is not None and not 2 <= args.seeds <= 1000:
        raise BenchError(f"--seeds {args.seeds}: a verdict needs at least 2 seeds (at most 1000)")
    seeds, why = (list(range(args.seeds)), "--seeds") if args.seeds is not None else suite_seeds(params, tables)
    if args.action == "cost":
        from bench.scale.cost import check_card, suite_cost

        check_card(args.card)
        print(f"suite {name}: estimated cost (bench/scale/cost.py: FLOPs on the meta device; not measured)")
        sys.stdout.write(suite_cost(tables, len(seeds), args.card, args.mfu, args.gpus))
        return 0
    if args.action == "show":
        print("\n".join(entries))
        return 0
    write_suite(args.params, name, entries, seeds if seeds != params.seeds else None)
    print(f"{args.params}: suite {name}, {len(entries)} entries x {len(seeds)} seeds ({why}).")
    if args.action == "run":  # hand over to DVC: it runs the stages, skips what is up to date
        import os

        cmd = ["dvc", "exp", "run"] if args.exp else ["dvc", "repro"]
        print("running: " + " ".join(cmd), flush=True)
        os.execvp(cmd[0], cmd)
    print("Next: `dvc repro` (or `dvc exp run`)")
    return 0


# The largest magnitude a number from the command line may have: what a table file accepts (bench.tables.parts),
# far beyond any accuracy or error in points, and small enough that the statistics cannot overflow.
LIMIT = 1e9


def _number(flag: str, text: str, lo: float = -LIMIT, bound: bool = False) -> float:
    """A finite number in [lo, LIMIT] from the command line (bounds printed "<0.1" allowed where `bound`)."""
    raw = text.strip()[1:] if bound and text.strip().startswith("<") else text
    try:
        value = float(raw)
    except ValueError:
        raise BenchError(f"{flag}: expected a number, got {text!r}") from None
    if not math.isfinite(value) or not lo <= value <= LIMIT:
        raise BenchError(f"{flag}: expected a finite number in [{lo:g}, {LIMIT:g}], got {text!r}")
    return value


def cmd_verdict(args) -> int:
    from bench.stats import judge_one, quantisation
    from bench.tables.parts import printed_unit, published_std

    published = _number("--published", args.published)
    values = [_number("--values", v) for v in args.values]
    margin = _number("--margin", args.margin)
    if margin <= 0:
        raise BenchError(f"--margin: must be > 0, got {args.margin}")
    factor = _number("--spread-factor", args.spread_factor, 1.0)
    if args.kind == "none" and args.dispersion is not None:
        raise BenchError("--dispersion was given with --kind none; omit it when the paper printed none")
    if args.kind != "none" and args.dispersion is None:
        raise BenchError(f"--kind {args.kind} needs --dispersion (or use --kind none)")
    if args.kind != "none" and (args.n is None or args.n < 2):
        raise BenchError(f"--kind {args.kind} needs --n, the number of runs the paper's dispersion is over (>= 2)")
    dispersion = _number("--dispersion", args.dispersion, 0.0, bound=True) if args.dispersion is not None else None
    mean = sum(values) / len(values)
    fractions = all(0 <= v <= 1 for v in values) and published > 1 and published >= 20 * max(mean, 1e-12)
    percents = all(v > 1 for v in values) and 0 <= published <= 1 and mean >= 20 * max(published, 1e-12)
    if fractions or percents:
        raise BenchError(f"--values {' '.join(args.values)} and --published {args.published} look like different "
                         "scales (fractions against percentages); give both in percent")
    test_size = _number("--test-size", args.test_size, 1.0) if args.test_size else None
    floor = quantisation(test_size, printed_unit(args.published))
    pstd, pn = published_std(dispersion, args.kind if dispersion is not None else "none", args.n or 1,
                             args.dispersion if dispersion is not None else None)
    try:
        result = judge_one(values, published, pstd, pn, margin, floor=floor, higher_is_better=args.higher_is_better,
                           factor=factor)
    except ValueError as exc:  # what the statistics refuse (numbers whose arithmetic would overflow)
        raise BenchError(str(exc)) from None
    print(json.dumps(result, allow_nan=False))
    return 0


def cmd_published(args) -> int:
    from bench.tables.params import load_all, load_params
    from bench.tables.published import published_csv

    sys.stdout.write(published_csv(load_all(load_params(args.params))))
    return 0


def cmd_schema(args) -> int:
    """Every key a table file, a study file or params.yaml may hold, and every pre-processing op."""
    sys.stdout.write(schema_markdown())
    return 0


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def schema_markdown() -> str:
    """The reference `bench schema` prints, from the declarations themselves (bench.tables) and the op
    registry (bench.pp): one table per part."""
    import dataclasses

    from bench.pp.ops import registry
    from bench.tables.params import Params
    from bench.tables.recipe import Dataset, Recipe
    from bench.tables.schema import describe
    from bench.tables.study import StudyFile
    from bench.tables.table import Table

    parts = (("Table file (`experiments/<paper>/<table>.yaml`)", Table, "field"),
             ("`recipe.` (an entry's recipe)", Recipe, "`recipe.` field"),
             ("`dataset.` (an entry's dataset)", Dataset, "`dataset.` field"),
             ("Study file (`experiments/studies/<study>.yaml`)", StudyFile, "field"),
             ("`params.yaml` (what `dvc repro` runs, and how; checked before any stage runs)", Params, "field"))
    lines = []
    for title, cls, head in parts:
        lines += [f"### {title}", "", f"| {head} | type | default | meaning |", "|---|---|---|---|"]
        lines += [_row([f"`{name}`", kind, default, doc]) for name, kind, default, doc in describe(cls)]
        lines.append("")
    lines += ["### Pre-processing ops (`recipe.preprocess.train`, `.eval`)", "",
              "| op | arguments (defaults) | runs on | meaning |", "|---|---|---|---|"]
    for name, op in registry().items():
        args = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(op)) or "none"
        forms = ("batch or example" if op.batched else "each example") + (", random" if op.random else "")
        lines.append(_row([f"`{name}`", args, forms, " ".join(op.__doc__.split())]))
    return "\n".join(lines) + "\n"


def cmd_show(args) -> int:
    import pandas as pd

    from bench.report.show import show

    try:
        verdicts = pd.read_csv(args.verdicts, keep_default_na=False, na_values=[""],
                               dtype={"published_printed": str, "published_dispersion_printed": str})
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read {args.verdicts}: {exc}; run `dvc repro` first") from None
    unknown = sorted(set(args.table or ()) - set(verdicts.table))
    if unknown:
        raise BenchError(f"--table {unknown[0]!r} is not in {args.verdicts}; valid: "
                         f"{', '.join(sorted(set(verdicts.table)))}")
    claims = pd.read_csv(args.claims) if Path(args.claims).is_file() else None
    sys.stdout.write(show(verdicts, claims, args.table))
    return 0


def register(sub) -> None:
    from bench.cli.args import count, fraction
    from bench.tables.parts import DISPERSIONS

    s = sub.add_parser("validate", help="check table files and params.yaml")
    s.add_argument("files", nargs="*", help="table files (default: every experiments/**/*.yaml)")
    s.set_defaults(func=cmd_validate)
    s = sub.add_parser("suite", help="list the suites, show one's entries, `use` one (rewrites params.yaml), "
                                     "or `run` one (use, then dvc repro)")
    s.add_argument("action", nargs="?", choices=("list", "show", "use", "run", "cost"), default="list")
    s.add_argument("name", nargs="?", help="suite name (default: the selected one)")
    s.add_argument("--exp", action="store_true", help="with run: `dvc exp run` instead of `dvc repro`")
    s.add_argument("--seeds", type=int, metavar="N", help="with use, run or cost: seeds 0..N-1 (default: the most "
                   "the suite's main table asks for in its `seeds:`, else params.yaml's)")
    s.add_argument("--card", default="H100", help="with cost: H100, H200, A100, L40S, L4, ... (bench/scale/cost.py)")
    s.add_argument("--mfu", type=fraction, default=0.4,
                   help="with cost: the model FLOPs utilisation assumed, in (0, 1]")
    s.add_argument("--gpus", type=count(1, 100_000, "devices for the critical path"), default=8,
                   help="with cost: devices for the critical path")
    s.set_defaults(func=cmd_suite)
    s = sub.add_parser("verdict", help="judge one cell from the shell; prints one JSON object")
    s.add_argument("--published", required=True, help="the published value, as printed (its digits set the "
                   "spread floor when --test-size is not given)")
    s.add_argument("--dispersion", help="the published dispersion as printed (\"0.06\", or a bound \"<0.1\"); "
                   "omit when none was printed")
    s.add_argument("--kind", choices=(*DISPERSIONS, "none"), required=True)
    s.add_argument("--n", type=int, help="the number of runs the published dispersion is over (>= 2; "
                   "required with --kind std or ci95)")
    s.add_argument("--values", nargs="+", required=True, help="the reproduced runs (percent; negative numbers "
                   "such as -1e2 are values)")
    s.add_argument("--margin", required=True)
    s.add_argument("--spread-factor", default="2", help="with --kind none: the paper's run-to-run std is taken "
                   "as up to this times ours (default 2, the tables' default)")
    s.add_argument("--test-size", help="test examples per run: the spread floor is 100 / size / sqrt(12)")
    direction = s.add_mutually_exclusive_group(required=True)
    direction.add_argument("--higher-is-better", action="store_true")
    direction.add_argument("--lower-is-better", action="store_true")
    # argparse reads "-1e200" as an option (its test for a negative number knows no exponent): these are values
    s._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.I)
    s.set_defaults(func=cmd_verdict)
    s = sub.add_parser("published", help="print every published cell of every table file as CSV")
    s.set_defaults(func=cmd_published)
    s = sub.add_parser("schema", help="print every field of table files, study files and params.yaml, and the ops "
                                      "(Markdown)")
    s.set_defaults(func=cmd_schema)
    s = sub.add_parser("show", help="the results as a Markdown table: reference, ours, delta, verdict per cell")
    s.add_argument("--verdicts", default="results/verdicts.csv")
    s.add_argument("--claims", default="results/claims.csv")
    s.add_argument("--table", action="append", help="every cell of this table id (repeatable); default: the "
                                                    "cells that ran")
    s.set_defaults(func=cmd_show)
