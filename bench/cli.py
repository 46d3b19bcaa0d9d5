"""`bench <subcommand>`: the thin command-line layer over the library.

Each DVC stage in dvc.yaml is one subcommand:
    bench plan | prepare | train --entry E --seed S | collect | stats | report
and beside them `bench validate`, `bench check` (the CI gate) and
`bench suite --write` (regenerate params.yaml's entry list).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.errors import BenchError


def _params(args):
    from bench.params import load_params, load_suite

    params = load_params(args.params)
    return params, load_suite(params)


def cmd_validate(args) -> int:
    from bench.experiments import load_tables
    from bench.params import load_params
    from bench.validate import check_resources

    files = args.files or sorted(str(p) for p in Path("experiments").rglob("*.yaml"))
    if not files:
        raise BenchError("no table files found under experiments/")
    tables = load_tables(files)
    check_resources(tables)
    if not args.files:
        _params(args)  # params.yaml must agree with the tables it names
        load_params(args.params)
    n = sum(len(t.entries) for t in tables.values())
    print(f"ok: {len(tables)} tables, {n} entries valid")
    return 0


def cmd_plan(args) -> int:
    from bench.io import write_json
    from bench.validate import check_resources

    params, tables = _params(args)
    check_resources(tables)
    out = Path(args.out)
    plans = {e.id: e.plan() for t in tables.values() for e in t.entries.values()}
    for eid, plan in plans.items():
        write_json(out / f"{eid}.json", plan)
    for stale in out.glob("*.json"):
        if stale.stem not in plans:
            stale.unlink()
    print(f"planned {len(plans)} entries x {len(params.seeds)} seeds into {out}/")
    return 0


def cmd_prepare(args) -> int:
    from bench.data.prepare import prepare

    params, tables = _params(args)
    prepare(tables, args.data_dir)
    return 0


def cmd_train(args) -> int:
    import torch

    from bench.io import write_json
    from bench.train.loop import train

    plan_path = Path(args.plan_dir) / f"{args.entry}.json"
    if not plan_path.is_file():
        raise BenchError(f"{plan_path} not found: unknown entry {args.entry!r} or `bench plan` not run")
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    run_dir = Path(args.runs_dir) / args.entry / str(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    metrics, state = train(plan, args.seed, args.data_dir, args.device)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / ".checkpoint.pt.tmp"
    torch.save(state, tmp)
    tmp.replace(run_dir / "checkpoint.pt")
    write_json(run_dir / "metrics.json", metrics)
    print(f"{args.entry} seed {args.seed}: top1 {metrics['top1']:.2f}% in {metrics['wall_time_s']:.1f} s "
          f"({metrics['images_per_s']:.0f} img/s on {metrics['device']})")
    return 0


def cmd_collect(args) -> int:
    from bench.io import write_text
    from bench.results import collect

    params, tables = _params(args)
    runs = collect(tables, params.seeds, args.runs_dir)
    write_text(args.out, runs.to_csv(index=False))
    by_status = runs.drop_duplicates(["entry", "seed"]).status.value_counts().to_dict()
    print(f"collected {len(runs)} rows into {args.out}: " + ", ".join(f"{v} {k}" for k, v in by_status.items()))
    for r in runs[runs.status != "ok"].drop_duplicates(["entry", "seed"]).itertuples():
        print(f"  {r.status}: {r.entry} seed {r.seed} {r.reason}", file=sys.stderr)
    return 0


def cmd_stats(args) -> int:
    import pandas as pd

    from bench.io import write_text
    from bench.results import judge

    params, tables = _params(args)
    alpha = float(params.section("stats").get("alpha", 0.05))
    try:
        runs = pd.read_csv(args.runs)
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read {args.runs}: {exc}; run `bench collect` first") from None
    verdicts = judge(tables, runs, alpha)
    write_text(args.out, verdicts.to_csv(index=False))
    print(f"judged {len(verdicts)} cells into {args.out}: " + ", ".join(
        f"{v} {k}" for k, v in verdicts.verdict.value_counts().items()))
    return 0


def cmd_report(args) -> int:
    import pandas as pd

    from bench.io import write_text
    from bench.report import render_html, render_markdown

    params, tables = _params(args)
    try:
        verdicts = pd.read_csv(args.verdicts, keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read {args.verdicts}: {exc}; run `bench stats` first") from None
    title = str(params.section("report").get("title", "Reproducibility report"))
    write_text(Path(args.out_dir) / "index.html", render_html(tables, verdicts, title))
    write_text(Path(args.out_dir) / "summary.md", render_markdown(tables, verdicts))
    print(f"wrote {args.out_dir}/index.html and {args.out_dir}/summary.md")
    return 0


def cmd_check(args) -> int:
    from bench.check import check

    return check(args.verdicts, args.table)


def cmd_suite(args) -> int:
    from bench.experiments import load_tables
    from bench.params import load_params, write_entries

    params = load_params(args.params)
    tables = load_tables(params.tables)
    entries = [eid for t in tables.values() for eid in t.entries]
    if args.write:
        write_entries(args.params, entries)
        print(f"wrote {len(entries)} entries into {args.params}")
    else:
        print("\n".join(entries))
    return 0


def cmd_tune_rho(args) -> int:
    from bench.experiments import all_entries, load_tables
    from bench.train.tune import tune_rho

    params = load_params_only(args)
    entries = all_entries(load_tables(params.tables))
    if args.entry not in entries:
        raise BenchError(f"unknown entry {args.entry!r}; valid choices: {', '.join(sorted(entries))}")
    best, scores = tune_rho(entries[args.entry].plan(), args.grid, args.seeds, args.data_dir, args.holdout)
    for rho, values in scores.items():
        print(f"rho {rho:g}: mean held-out top1 {sum(values) / len(values):.2f}% over seeds {args.seeds}")
    print(f"best rho: {best:g}")
    return 0


def cmd_record_reference(args) -> int:
    from bench.reference import record

    params, tables = _params(args)
    chosen = {k: v for k, v in tables.items() if not args.table or k in args.table}
    record(chosen, args.seeds, args.data_dir)
    return 0


def load_params_only(args):
    from bench.params import load_params

    return load_params(args.params)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("validate", help="check table files and params.yaml")
    s.add_argument("files", nargs="*", help="table files (default: every experiments/**/*.yaml)")
    s.set_defaults(func=cmd_validate)
    s = sub.add_parser("plan", help="write plan/<entry>.json, the recipe each train stage depends on")
    s.add_argument("--out", default="plan")
    s.set_defaults(func=cmd_plan)
    s = sub.add_parser("prepare", help="build the TFDS datasets the suite needs")
    s.add_argument("--data-dir", default="data/tfds")
    s.set_defaults(func=cmd_prepare)
    s = sub.add_parser("train", help="train and evaluate one (entry, seed)")
    s.add_argument("--entry", required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--plan-dir", default="plan")
    s.add_argument("--data-dir", default="data/tfds")
    s.add_argument("--runs-dir", default="runs")
    s.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    s.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default: torch's choice)")
    s.set_defaults(func=cmd_train)
    s = sub.add_parser("collect", help="gather runs/*/*/metrics.json into results/runs.csv")
    s.add_argument("--runs-dir", default="runs")
    s.add_argument("--out", default="results/runs.csv")
    s.set_defaults(func=cmd_collect)
    s = sub.add_parser("stats", help="judge every cell into results/verdicts.csv")
    s.add_argument("--runs", default="results/runs.csv")
    s.add_argument("--out", default="results/verdicts.csv")
    s.set_defaults(func=cmd_stats)
    s = sub.add_parser("report", help="render reports/index.html and reports/summary.md")
    s.add_argument("--verdicts", default="results/verdicts.csv")
    s.add_argument("--out-dir", default="reports")
    s.set_defaults(func=cmd_report)
    s = sub.add_parser("check", help="CI gate: exit 1 when a cell is DISCREPANT in the worse direction")
    s.add_argument("--verdicts", default="results/verdicts.csv")
    s.add_argument("--table", action="append", help="limit to this table id (repeatable)")
    s.set_defaults(func=cmd_check)
    s = sub.add_parser("suite", help="list the suite's entries, or --write them into params.yaml")
    s.add_argument("--write", action="store_true")
    s.set_defaults(func=cmd_suite)

    s = sub.add_parser("tune-rho", help="choose SAM's rho on a held-out part of the training split")
    s.add_argument("--entry", required=True)
    s.add_argument("--grid", type=float, nargs="+", default=[0.01, 0.02, 0.05, 0.1, 0.2, 0.5])
    s.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    s.add_argument("--holdout", type=float, default=0.1)
    s.add_argument("--data-dir", default="data/tfds")
    s.set_defaults(func=cmd_tune_rho)

    s = sub.add_parser("record-reference", help="train with other seeds and write the tables' recorded references")
    s.add_argument("--table", action="append", help="limit to this table id (repeatable)")
    s.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102, 103, 104])
    s.add_argument("--data-dir", default="data/tfds")
    s.set_defaults(func=cmd_record_reference)

    args = p.parse_args(argv)
    try:
        return args.func(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """Console-script entry point: exit without tearing down torch's module graph.

    Interpreter teardown after a training run costs about a second per process
    (measured on the embedded suite's 2-core machine), paid once per DVC stage.
    Every output is already written atomically and fsynced, so skip it.
    """
    import os

    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
