"""`bench <subcommand>`: the thin command-line layer over the library.

Each DVC stage in dvc.yaml is one subcommand:
    bench prepare | plan | select --entry E | train --entry E --seed S | collect | stats | report
and beside them `bench validate`, `bench check` (the CI gate), `bench suite`
(list the suites, `use` one) and `bench published` (the papers' cells as CSV).
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


def _everything(args):
    """Params and every table of every suite (collect, stats and the report cover them all)."""
    from bench.params import load_all, load_params, load_suite

    params = load_params(args.params)
    load_suite(params)  # the selected suite must agree with the entry list
    return params, load_all(params)


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise BenchError(f"{path} not found: {what}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BenchError(f"{path} is not valid JSON ({exc}); rerun the stage that writes it") from None


def cmd_validate(args) -> int:
    from bench.experiments import load_tables
    from bench.params import load_all, load_params
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
        _params(args)
    check_resources(tables)
    n = sum(len(t.entries) for t in tables.values())
    print(f"ok: {len(tables)} tables, {n} entries valid")
    return 0


def cmd_prepare(args) -> int:
    from bench.data.prepare import prepare
    from bench.io import write_json

    params, tables = _params(args)
    manifest = prepare(tables, args.data_dir, args.manual_dir)
    write_json(args.manifest, manifest)
    bad = [k for k, v in manifest.items() if v["status"] != "ok"]
    print(f"wrote {args.manifest}: {len(manifest) - len(bad)} datasets ready"
          + (f", {len(bad)} unavailable ({', '.join(bad)})" if bad else ""))
    return 0


def cmd_plan(args) -> int:
    from bench.io import write_json
    from bench.validate import check_resources

    params, tables = _params(args)
    check_resources(tables)
    manifest = _read_json(Path(args.manifest), "run `bench prepare` (DVC stage `prepare`) first")
    out = Path(args.out)
    plans = {}
    for t in tables.values():
        for e in t.entries.values():
            if e.runs:
                names = [e.dataset["name"]] + [x["name"] for x in e.dataset["extra_eval"]]
                plans[e.id] = {**e.plan(), "data": {n: manifest.get(n, {"status": "unavailable",
                                                                         "reason": "not in the manifest"})
                                                     for n in names}}
    for eid, plan in plans.items():
        write_json(out / f"{eid}.json", plan)
    for stale in out.glob("*.json"):
        if stale.stem not in plans:
            stale.unlink()
    print(f"planned {len(plans)} entries x {len(params.seeds)} seeds into {out}/")
    return 0


def _unavailable(plan: dict) -> str | None:
    bad = [f"{name}: {rec.get('reason', rec['status'])}" for name, rec in plan.get("data", {}).items()
           if rec["status"] != "ok"]
    return "; ".join(bad) or None


def _entry_arg(entry: str) -> str:
    """An entry id from the command line: never a path (runs/, plan/ and select/ must not be escaped)."""
    from bench.experiments import ID_RE

    if not ID_RE.match(entry):
        raise BenchError(f"--entry {entry!r} is not an entry id (lower-case letters, digits and _, at most 64)")
    return entry


def cmd_select(args) -> int:
    from bench.io import write_json

    _entry_arg(args.entry)
    plan = _read_json(Path(args.plan_dir) / f"{args.entry}.json", f"unknown entry {args.entry!r} or no plan")
    out = Path(args.out_dir) / f"{args.entry}.json"
    select = plan["recipe"]["select"]
    if select is None:
        write_json(out, {"entry": args.entry, "param": None})
        return 0
    reason = _unavailable(plan)
    if reason:
        write_json(out, {"entry": args.entry, "param": select["param"], "status": "unavailable", "reason": reason})
        print(f"{args.entry}: data unavailable, nothing selected", file=sys.stderr)
        return 0
    from bench.train.select import select_value

    write_json(out, {"entry": args.entry, **select_value(plan, args.data_dir, args.device)})
    return 0


def _record_no_number(run_dir: Path, plan: dict, args, status: str, reason: str, **extra) -> None:
    """A run that yields no number (data unavailable, training diverged): its status and reason, and a
    checkpoint.pt holding only those (the DVC output must exist)."""
    from bench.io import write_json
    from bench.train.checkpoint import write_checkpoint

    write_checkpoint(run_dir / "checkpoint.pt", {"status": status, "reason": reason})
    write_json(run_dir / "metrics.json", {"entry": args.entry, "table": plan["table"], "seed": args.seed,
                                          "status": status, "reason": reason, **extra})


def cmd_train(args) -> int:
    from bench.io import write_json
    from bench.train.checkpoint import write_checkpoint

    _entry_arg(args.entry)
    plan = _read_json(Path(args.plan_dir) / f"{args.entry}.json",
                      f"unknown entry {args.entry!r} or `bench plan` not run")
    selected = _read_json(Path(args.select_dir) / f"{args.entry}.json", "run `bench select` first")
    run_dir = Path(args.runs_dir) / args.entry / str(args.seed)
    reason = _unavailable(plan) or (selected.get("reason") if selected.get("status") == "unavailable" else None)
    if reason:  # the cell becomes UNAVAILABLE with this reason; no number is made up
        _record_no_number(run_dir, plan, args, "unavailable", reason)
        print(f"{args.entry} seed {args.seed}: UNAVAILABLE: {reason}", file=sys.stderr)
        return 0
    import torch

    from bench.train.distributed import world_from_env
    from bench.train.loop import TrainingDiverged, apply_selection, train

    if args.threads:
        torch.set_num_threads(args.threads)
    engine = {"precision": args.precision, "channels_last": args.channels_last, "compile": args.compile == "true"}
    try:
        metrics, state = train(apply_selection(plan, selected), args.seed, args.data_dir, args.device,
                               engine_opts=engine, run_dir=run_dir, checkpoint_every=args.checkpoint_every)
    except TrainingDiverged as exc:  # a failed run, recorded as such: never a number
        if world_from_env().main:
            _record_no_number(run_dir, plan, args, "failed", str(exc), step=exc.step)
            (run_dir / "resume.pt").unlink(missing_ok=True)
        print(f"{args.entry} seed {args.seed}: FAILED: {exc} (recorded in {run_dir / 'metrics.json'}; "
              f"`dvc repro -f train@{args.entry}-{args.seed}` retries)", file=sys.stderr)
        return 0
    if not world_from_env().main:  # torchrun: rank 0 writes the run's outputs
        return 0
    if selected.get("param"):
        metrics["selected"] = {k: selected[k] for k in ("param", "value", "scores", "split") if k in selected}
    write_checkpoint(run_dir / "checkpoint.pt", state)
    write_json(run_dir / "metrics.json", metrics)
    speed = f" ({metrics['images_per_s']:.0f} img/s on {metrics['device']})" if metrics["images_per_s"] else ""
    print(f"{args.entry} seed {args.seed}: top1 {metrics['top1']:.2f}% in {metrics['wall_time_s']:.1f} s{speed}")
    return 0


def cmd_collect(args) -> int:
    from bench.io import write_text
    from bench.results import collect

    params, tables = _everything(args)
    suite_of = {tid: next(name for name, files in params.suites.items() if t.path in files)
                for tid, t in tables.items()}  # the first suite naming the table's file
    hints = {tid: f"not run yet (suite {s}: `bench suite use {s}`, then `dvc repro`)" for tid, s in suite_of.items()}
    runs = collect(tables, params.seeds, args.runs_dir, hints)
    write_text(args.out, runs.to_csv(index=False))
    per_run = runs.drop_duplicates(["entry", "seed"])
    by_status = per_run.status.value_counts().to_dict()
    print(f"collected {len(runs)} rows into {args.out}: " + ", ".join(f"{v} {k}" for k, v in by_status.items()))
    selected = {tid for tid, t in tables.items() if t.path in params.tables}
    for r in per_run[(per_run.status != "ok") & per_run.table.isin(selected)].itertuples():
        print(f"  {r.status}: {r.entry} seed {r.seed}: {r.reason}", file=sys.stderr)
    return 0


def cmd_stats(args) -> int:
    import pandas as pd

    from bench.io import write_text
    from bench.results import judge

    params, tables = _everything(args)
    alpha = float(params.section("stats").get("alpha", 0.05))
    try:
        runs = pd.read_csv(args.runs)
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read {args.runs}: {exc}; run `bench collect` first") from None
    from bench.claims import judge_claims
    from bench.io import write_json
    from bench.results import summary

    verdicts = judge(tables, runs, alpha)
    claims = judge_claims(tables, runs, alpha)
    write_text(args.out, verdicts.to_csv(index=False))
    write_text(args.claims_out, claims.to_csv(index=False))
    write_json(args.summary_out, summary(verdicts, claims))
    print(f"judged {len(verdicts)} cells into {args.out}: " + ", ".join(
        f"{v} {k}" for k, v in verdicts.verdict.value_counts().items()))
    per_claim = claims.drop_duplicates("claim")
    print(f"judged {len(per_claim)} claims into {args.claims_out}: " + ", ".join(
        f"{v} {k}" for k, v in per_claim.claim_verdict.value_counts().items()))
    return 0


def cmd_report(args) -> int:
    import pandas as pd

    from bench.io import write_text
    from bench.report import render_html, render_markdown

    params, tables = _everything(args)
    frames = {}
    for name, path, stage in (("verdicts", args.verdicts, "stats"), ("claims", args.claims, "stats"),
                              ("runs", args.runs, "collect")):
        try:
            frames[name] = pd.read_csv(path, keep_default_na=False, na_values=[""],
                                       dtype={"published_printed": str, "published_dispersion_printed": str,
                                              "values": str, "seeds": str, "reason": str})
        except (OSError, ValueError) as exc:
            raise BenchError(f"cannot read {path}: {exc}; run `bench {stage}` first") from None
    title = str(params.section("report").get("title", "Reproducibility report"))
    html = render_html(tables, frames["verdicts"], title, frames["runs"], frames["claims"])
    write_text(Path(args.out_dir) / "index.html", html)
    write_text(Path(args.out_dir) / "summary.md", render_markdown(tables, frames["verdicts"], frames["claims"]))
    print(f"wrote {args.out_dir}/index.html and {args.out_dir}/summary.md")
    return 0


def cmd_check(args) -> int:
    from bench.check import check

    return check(args.verdicts, args.table, args.claims, args.claim)


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
    from bench.results import printed_decimals
    from bench.stats import judge_one

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


def cmd_workers(args) -> int:
    from bench.scaleout import run_workers

    return run_workers([d for d in args.devices.split(",") if d])


def cmd_slurm(args) -> int:
    import submitit

    from bench.scaleout import run_slurm

    if args.local:
        executor = submitit.LocalExecutor(folder=args.log_dir)
        executor.update_parameters(timeout_min=args.timeout_min)
    else:
        executor = submitit.AutoExecutor(folder=args.log_dir)
        executor.update_parameters(timeout_min=args.timeout_min, slurm_partition=args.partition,
                                   gpus_per_node=args.gpus, cpus_per_task=args.cpus, slurm_mem=args.mem)
    return run_slurm(executor, args.poll)


def cmd_published(args) -> int:
    from bench.params import load_all, load_params
    from bench.published import published_csv

    sys.stdout.write(published_csv(load_all(load_params(args.params))))
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
    s = sub.add_parser("prepare", help="build the TFDS datasets the suite needs; write data/manifest.json")
    s.add_argument("--data-dir", default="data/tfds")
    s.add_argument("--manual-dir", default="data/manual", help="root of the TFDS manual_dir of each dataset")
    s.add_argument("--manifest", default="data/manifest.json")
    s.set_defaults(func=cmd_prepare)
    s = sub.add_parser("plan", help="write plan/<entry>.json, the recipe each train stage depends on")
    s.add_argument("--out", default="plan")
    s.add_argument("--manifest", default="data/manifest.json")
    s.set_defaults(func=cmd_plan)
    s = sub.add_parser("select", help="choose an entry's lr or rho on held-out data (select/<entry>.json)")
    s.add_argument("--entry", required=True)
    s.add_argument("--plan-dir", default="plan")
    s.add_argument("--out-dir", default="select")
    s.add_argument("--data-dir", default="data/tfds")
    s.add_argument("--device", default="auto")
    s.set_defaults(func=cmd_select)
    s = sub.add_parser("train", help="train and evaluate one (entry, seed)")
    s.add_argument("--entry", required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--plan-dir", default="plan")
    s.add_argument("--select-dir", default="select")
    s.add_argument("--data-dir", default="data/tfds")
    s.add_argument("--runs-dir", default="runs")
    s.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    s.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default: torch's choice)")
    s.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto: bf16 autocast on CUDA, float32 on CPU")
    s.add_argument("--channels-last", choices=("auto", "true", "false"), default="auto",
                   help="auto: on CUDA for convolutional models")
    s.add_argument("--compile", choices=("true", "false"), default="false", help="torch.compile the model")
    s.add_argument("--checkpoint-every", type=int, default=0,
                   help="save runs/<entry>/<seed>/resume.pt every N steps (and on SIGTERM); 0: only on SIGTERM")
    s.set_defaults(func=cmd_train)
    s = sub.add_parser("collect", help="gather runs/*/*/metrics.json into results/runs.csv")
    s.add_argument("--runs-dir", default="runs")
    s.add_argument("--out", default="results/runs.csv")
    s.set_defaults(func=cmd_collect)
    s = sub.add_parser("stats", help="judge every cell into results/verdicts.csv")
    s.add_argument("--runs", default="results/runs.csv")
    s.add_argument("--out", default="results/verdicts.csv")
    s.add_argument("--claims-out", default="results/claims.csv")
    s.add_argument("--summary-out", default="results/summary.json", help="counts for `dvc metrics`")
    s.set_defaults(func=cmd_stats)
    s = sub.add_parser("report", help="render reports/index.html and reports/summary.md")
    s.add_argument("--verdicts", default="results/verdicts.csv")
    s.add_argument("--claims", default="results/claims.csv")
    s.add_argument("--runs", default="results/runs.csv")
    s.add_argument("--out-dir", default="reports")
    s.set_defaults(func=cmd_report)
    s = sub.add_parser("check", help="CI gate: exit 1 when a cell is DISCREPANT in the worse direction "
                                     "or a claim is CONTRADICTED")
    s.add_argument("--verdicts", default="results/verdicts.csv")
    s.add_argument("--claims", default="results/claims.csv")
    s.add_argument("--table", action="append", help="limit to this table id (repeatable): its cells and claims")
    s.add_argument("--claim", action="append", help="limit to this claim id (repeatable)")
    s.set_defaults(func=cmd_check)
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
    s = sub.add_parser("workers", help="run the pending select/train stages in parallel, one worker per GPU")
    s.add_argument("--devices", required=True, help="comma-separated device ids, one worker each (e.g. 0,1,2,3)")
    s.set_defaults(func=cmd_workers)
    s = sub.add_parser("slurm", help="run the pending select/train stages as SLURM jobs (submitit)")
    s.add_argument("--partition")
    s.add_argument("--gpus", type=int, default=1, help="GPUs per job")
    s.add_argument("--cpus", type=int, default=8, help="CPUs per job")
    s.add_argument("--mem", default="64G")
    s.add_argument("--timeout-min", type=int, default=24 * 60)
    s.add_argument("--log-dir", default="runs/.slurm", help="submitit's folder (job scripts, logs)")
    s.add_argument("--poll", type=float, default=30.0, help="seconds between job status checks")
    s.add_argument("--local", action="store_true", help="submitit's local executor (this machine), for testing")
    s.set_defaults(func=cmd_slurm)
    s = sub.add_parser("published", help="print every published cell of every table file as CSV")
    s.set_defaults(func=cmd_published)

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
