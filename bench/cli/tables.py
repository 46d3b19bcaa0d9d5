"""The subcommands over table files: `bench validate | schema | suite | published | verdict`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.errors import BenchError


def cmd_validate(args) -> int:
    from bench.experiments import load_tables
    from bench.params import load_all, load_params, selected_suite
    from bench.validate import check_resources

    if args.files:
        tables = load_tables(args.files)
    else:
        params = load_params(args.params)
        missing = sorted(set(str(p) for p in Path("experiments").rglob("*.yaml")) - set(params.all_tables))
        if missing:
            raise BenchError(f"{params.path}: suites: table files in no suite: {', '.join(missing)}")
        tables = load_all(params)
        for name in params.suites:  # each suite must load on its own (derived entries resolve inside it)
            load_tables(params.suites[name])
        selected_suite(args.params)
    check_resources(tables)
    n = sum(len(t.entries) for t in tables.values())
    print(f"ok: {len(tables)} tables, {n} entries valid")
    return 0


def cmd_suite(args) -> int:
    from bench.experiments import load_tables
    from bench.params import load_params, runnable, write_suite

    params = load_params(args.params)
    if args.action == "list":
        for name, files in params.suites.items():
            n = len(runnable(load_tables(files)))
            mark = "*" if name == params.suite else " "
            print(f"{mark} {name:<14} {n:>4} entries x {len(params.seeds)} seeds = {n * len(params.seeds):>4} "
                  f"train stages  ({', '.join(files)})")
        return 0
    name = args.name or params.suite
    if name not in params.suites:
        from bench.errors import choices

        raise BenchError(f"unknown suite {name!r}; {choices(name, params.suites)}")
    entries = runnable(load_tables(params.suites[name]))
    if args.action == "show":
        print("\n".join(entries))
        return 0
    write_suite(args.params, name, entries)
    print(f"{args.params}: suite {name}, {len(entries)} entries x {len(params.seeds)} seeds.")
    if args.action == "run":  # hand over to DVC: it runs the stages, skips what is up to date
        import os

        cmd = ["dvc", "exp", "run"] if args.exp else ["dvc", "repro"]
        print("running: " + " ".join(cmd), flush=True)
        os.execvp(cmd[0], cmd)
    print("Next: `dvc repro` (or `dvc exp run`)")
    return 0


def cmd_verdict(args) -> int:
    from bench.stats import judge_one, printed_decimals

    try:
        published = float(args.published)
    except ValueError:
        raise BenchError(f"--published: expected a number, got {args.published!r}") from None
    if args.kind == "none" and args.dispersion is not None:
        raise BenchError("--dispersion was given with --kind none; omit it when the paper printed none")
    if args.kind != "none" and args.dispersion is None:
        raise BenchError(f"--kind {args.kind} needs --dispersion (or use --kind none)")
    if args.dispersion is not None and args.dispersion < 0 or args.margin <= 0 or args.n < 1:
        raise BenchError("--dispersion must be >= 0, --margin > 0 and --n >= 1")
    decimals = printed_decimals(args.published.strip()) if args.dispersion is not None else None
    result = judge_one(args.values, published, args.dispersion, args.kind, args.n, args.margin, decimals)
    print(json.dumps(result))
    return 0


def cmd_published(args) -> int:
    from bench.params import load_all, load_params
    from bench.published import published_csv

    sys.stdout.write(published_csv(load_all(load_params(args.params))))
    return 0


def cmd_schema(args) -> int:
    """Every table-file field of an entry's recipe and dataset, and every pre-processing op."""
    sys.stdout.write(schema_markdown())
    return 0


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def schema_markdown() -> str:
    """The reference `bench schema` prints, from the dataclasses and the op registry themselves."""
    import dataclasses

    from bench.data.ops import OPS
    from bench.recipe import Dataset, Recipe
    from bench.schema import describe

    lines = []
    for title, cls in (("recipe", Recipe), ("dataset", Dataset)):
        lines += [f"| `{title}.` field | type | default | meaning |", "|---|---|---|---|"]
        lines += [_row([f"`{name}`", kind, default, doc]) for name, kind, default, doc in describe(cls)]
        lines.append("")
    lines += ["| op (`preprocess.train` / `.eval`) | arguments (defaults) | runs on | meaning |", "|---|---|---|---|"]
    for name, op in OPS.items():
        args = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(op)) or "none"
        forms = ("batch or example" if op.batched else "each example") + (", random" if op.random else "")
        lines.append(_row([f"`{name}`", args, forms, " ".join(op.__doc__.split())]))
    return "\n".join(lines) + "\n"


def register(sub) -> None:
    s = sub.add_parser("validate", help="check table files and params.yaml")
    s.add_argument("files", nargs="*", help="table files (default: every experiments/**/*.yaml)")
    s.set_defaults(func=cmd_validate)
    s = sub.add_parser("suite", help="list the suites, show one's entries, `use` one (rewrites params.yaml), "
                                     "or `run` one (use, then dvc repro)")
    s.add_argument("action", nargs="?", choices=("list", "show", "use", "run"), default="list")
    s.add_argument("name", nargs="?", help="suite name (default: the selected one)")
    s.add_argument("--exp", action="store_true", help="with run: `dvc exp run` instead of `dvc repro`")
    s.set_defaults(func=cmd_suite)
    s = sub.add_parser("verdict", help="judge one cell from the shell; prints one JSON object")
    s.add_argument("--published", required=True, help="the published value, as printed (its digits set the "
                   "rounding floor of the dispersion)")
    s.add_argument("--dispersion", type=float, help="the published dispersion; omit when none was printed")
    s.add_argument("--kind", choices=("std", "ci95", "none"), required=True)
    s.add_argument("--n", type=int, default=1, help="the published number of runs")
    s.add_argument("--values", type=float, nargs="+", required=True, help="the reproduced runs")
    s.add_argument("--margin", type=float, required=True)
    direction = s.add_mutually_exclusive_group(required=True)
    direction.add_argument("--higher-is-better", action="store_true")
    direction.add_argument("--lower-is-better", action="store_true")
    s.set_defaults(func=cmd_verdict)
    s = sub.add_parser("published", help="print every published cell of every table file as CSV")
    s.set_defaults(func=cmd_published)
    s = sub.add_parser("schema", help="print the recipe and dataset fields of table files (Markdown)")
    s.set_defaults(func=cmd_schema)
