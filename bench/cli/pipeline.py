"""The aggregation stages and the gate: `bench prepare | plan | collect | stats | report | check`."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.errors import BenchError


def cmd_prepare(args) -> int:
    from bench.data.prepare import prepare
    from bench.io import write_json
    from bench.tables.params import selected_suite

    params, tables = selected_suite(args.params)
    names = {n for t in tables.values() for e in t.entries.values() if e.runs for n in e.dataset.names}
    manifest = prepare(sorted(names), args.data_dir, args.manual_dir, offline=args.offline)
    write_json(args.manifest, manifest)
    bad = [k for k, v in manifest.items() if v["status"] != "ok"]
    print(f"wrote {args.manifest}: {len(manifest) - len(bad)} datasets ready"
          + (f", {len(bad)} unavailable ({', '.join(bad)})" if bad else ""))
    return 0


def cmd_plan(args) -> int:
    import dataclasses

    from bench.io import read_json, write_json
    from bench import progress
    from bench.tables.table import all_entries
    from bench.tables.params import check_study_cells, load_all, selected_suite
    from bench.train.preflight import check_resources

    params, tables = selected_suite(args.params)
    check_resources(tables)
    check_study_cells(params, load_all(params))  # before any stage: a study cell named wrong stops the plan
    manifest = read_json(Path(args.manifest), "run `bench prepare` (DVC stage `prepare`) first")
    out = Path(args.out)
    plans = {}
    for t in tables.values():
        for e in t.entries.values():
            if e.runs:
                data = {n: manifest.get(n, {"status": "unavailable", "reason": "not in the manifest"})
                        for n in e.dataset.names}
                plans[e.id] = dataclasses.replace(e.plan(), data=data, table_file=t.path).to_json()
    for eid, plan in plans.items():
        write_json(out / f"{eid}.json", plan)
    for stale in out.glob("*.json"):
        if stale.stem not in plans and not stale.name.startswith("_"):
            stale.unlink()
    ordered = {e: plans[e] for e in params.entries if e in plans}  # dvc.yaml's matrix follows params' order
    cells = list(params.study_cells)
    progress.write(out, progress.estimates(ordered, params.seeds, Path(args.runs_dir), cells))
    _prune(set(all_entries(load_all(params))), Path(args.runs_dir), Path(args.select_dir))
    print(f"planned {len(plans)} entries x {len(params.seeds)} seeds into {out}/")
    return 0


def _prune(known: set[str], runs_dir: Path, select_dir: Path) -> None:
    """Remove the runs and selections of entries that no table file has any more (an entry deleted or
    renamed), so that nothing reports or counts them. Other suites' entries are kept."""
    import shutil

    gone = sorted({p.name for p in runs_dir.glob("*") if p.is_dir() and not p.name.startswith(".")} - known)
    for name in gone:
        shutil.rmtree(runs_dir / name)
    for f in select_dir.glob("*.json"):
        if f.stem not in known:
            gone.append(f"select/{f.name}")
            f.unlink()
    if gone:
        print(f"removed the outputs of entries no table has any more: {', '.join(gone)}")


def cmd_collect(args) -> int:
    from bench.io import write_text
    from bench.tables.params import every_suite
    from bench.judge.collect import collect

    params, tables = every_suite(args.params)
    suite_of = {tid: next(name for name, files in params.suites.items() if t.path in files)
                for tid, t in tables.items()}  # the first suite naming the table's file
    hints = {tid: f"not run yet (suite {s}: `bench suite use {s}`, then `dvc repro`)" for tid, s in suite_of.items()}
    runs = collect(tables, params.seeds, args.runs_dir, hints)
    write_text(args.out, runs.to_csv(index=False))
    per_run = runs.drop_duplicates(["entry", "seed"])
    selected = {tid for tid, t in tables.items() if t.path in params.tables}
    mine = per_run[per_run.table.isin(selected)]
    counts = ", ".join(f"{v} {k}" for k, v in mine.status.value_counts().items())
    others = len(per_run) - len(mine)
    print(f"collected suite {params.suite}: {len(mine)} runs ({counts or 'none'}) into {args.out}"
          + (f"; {others} runs of the other suites' tables, not selected, listed as not run" if others else ""))
    for r in mine[mine.status != "ok"].itertuples():
        print(f"  {r.status}: {r.entry} seed {r.seed}: {r.reason}", file=sys.stderr)
    return 0


def cmd_stats(args) -> int:
    from bench.io import write_json, write_text
    from bench.judge import frames
    from bench.tables.params import every_suite
    from bench.judge.operating import operating
    from bench.judge.verdicts import judge, judge_claims, summary

    params, tables = every_suite(args.params)
    alpha = params.stats.alpha
    runs = frames.read(args.runs, "runs")
    try:
        verdicts = judge(tables, runs, alpha, pool=not args.no_pool)
        claims = judge_claims(tables, runs, alpha, verdicts)
    except ValueError as exc:  # non-finite or impossible input reached the statistics
        raise BenchError(f"{args.runs}: {exc}") from None
    write_text(args.out, verdicts.to_csv(index=False))
    write_text(args.claims_out, claims.to_csv(index=False))
    write_text(args.power_out, operating(tables, verdicts, len(params.seeds), alpha,
                                         pool=not args.no_pool).to_csv(index=False))
    ran = verdicts[verdicts.n_runs > 0]
    for metric in ("top1", "top1_err"):  # `dvc plots show`: one metric per figure
        mine = ran[ran.metric == metric][["table", "entry", "published", "mean", "std", "verdict"]]
        write_text(Path(args.plots_dir) / f"{metric}.csv", mine.to_csv(index=False))
    write_json(args.summary_out, summary(verdicts, claims))
    print(f"judged {len(verdicts)} cells into {args.out}: " + ", ".join(
        f"{v} {k}" for k, v in verdicts.verdict.value_counts().items()))
    per_claim = claims.drop_duplicates("claim")
    print(f"judged {len(per_claim)} claims into {args.claims_out}: " + ", ".join(
        f"{v} {k}" for k, v in per_claim.claim_verdict.value_counts().items()))
    return 0


def cmd_power(args) -> int:
    """What each table's gate can show (from results/verdicts.csv when it exists): bench.judge.operating."""
    import pandas as pd

    from bench.judge import frames
    from bench.tables.params import every_suite
    from bench.judge import power
    from bench.judge.operating import operating, reach

    params, tables = every_suite(args.params)
    alpha = params.stats.alpha
    verdicts = frames.read(args.verdicts, "verdicts") if Path(args.verdicts).is_file() else pd.DataFrame()
    frame = operating(tables, verdicts, len(params.seeds), alpha, pool=not args.no_pool, force=args.seeds)
    print(f"What the gate can show, per table: its typical cell at its seeds, alpha {alpha}, "
          f"{'each cell its own variance' if args.no_pool else 'seed variance pooled per group'} "
          f"({frame.method.iloc[0]}).")
    head = (f"{'table':<18} {'margin':>6} {'seeds':>5} {'sigma':>6} {'df':>4} {'factor':>6}  {'false fail':>10} "
            f"{'REPR 0':>6} {'caught80':>8} {'Holm':>7} {'margin80':>8}  {'rec.':>4} {'REPR 0':>6} {'Holm':>7} "
            f"{'margin80':>8}")
    print(head)
    for r in frame.itertuples():
        if pd.isna(r.sigma):
            print(f"{r.table:<18} {r.margin:>6g} {r.seeds:>5}  {r.sigma_source}")
            continue
        factor = "" if pd.isna(r.spread_factor) else f"{r.spread_factor:g}"
        print(f"{r.table:<18} {r.margin:>6g} {r.seeds:>5} {r.sigma:>6.3g} {r.spread_df:>4g} {factor:>6}  "
              f"{r.false_fail_at_margin:>10.3f} {r.reproduced_at_zero:>6.3f} {r.caught80_cell:>8.3g} "
              f"{r.caught80_holm:>7.3g} {r.smallest_margin80:>8.3g}  {int(r.seeds_recommended):>4} "
              f"{r.reproduced_at_zero_recommended:>6.3f} {r.caught80_holm_recommended:>7.3g} "
              f"{r.smallest_margin80_recommended:>8.3g}")
    print("sigma: our seeds' std (runs, else the table's prior); df: of the variance a cell uses (pooled over its "
          "group); factor: a single published draw's std taken as up to this times ours; false fail: P(the gate "
          "fails a cell whose true difference is the margin, worse; one cell); REPR 0: P(REPRODUCED when the "
          "truth equals the published value); caught80: the difference failed 80% of the time, one cell and "
          "after Holm over the table; margin80: the smallest margin at which REPR 0 reaches 80%; rec.: the "
          "seeds recommended, then the same figures at them.")
    for r in frame.itertuples():
        if not pd.isna(r.sigma):
            print(f"  {r.table}: sigma from {r.sigma_source}")
            print(f"    {int(r.seeds_recommended)} seeds recommended ({r.recommended_because}); {reach(r)}")
    return 0


def cmd_report(args) -> int:
    if args.compare:  # per-cell differences between two experiments, printed; the report is not rewritten
        from bench.report.compare import compare, read_at, render

        old, new = read_at(args.compare, args.verdicts), read_at(args.against, args.verdicts)
        sys.stdout.write(render(compare(old, new), args.compare, args.against or "workspace"))
        return 0

    from bench.io import write_text
    from bench.judge.frames import read
    from bench.tables.params import every_suite
    from bench.report import render_html, render_markdown

    params, tables = every_suite(args.params)
    frames = {name: read(path, name, keep_default_na=False, na_values=[""],
                         dtype={"published_printed": str, "published_dispersion_printed": str, "values": str,
                                "seeds": str, "reason": str})
              for name, path in (("verdicts", args.verdicts), ("claims", args.claims), ("runs", args.runs),
                                 ("power", args.power))}
    title = params.report.title
    selected = {tid for tid, t in tables.items() if t.path in params.tables}
    from bench.report.studies import sections

    html = render_html(tables, frames["verdicts"], title, frames["runs"], frames["claims"], frames["power"],
                       selected=selected, seeds=len(params.seeds), runs_dir=args.runs_dir,
                       studies=sections(args.studies))
    write_text(Path(args.out_dir) / "index.html", html)
    write_text(Path(args.out_dir) / "summary.md", render_markdown(tables, frames["verdicts"], frames["claims"]))
    print(f"wrote {args.out_dir}/index.html and {args.out_dir}/summary.md")
    if not _has_remote():
        print("Checkpoints stay in this machine's DVC cache (.dvc/cache): no DVC remote is configured, so DVC's "
              "`dvc push` hint below does not apply. To keep them elsewhere: `dvc remote add -d storage <url>`, "
              "then `dvc push` (README, 'Keeping checkpoints').")
    return 0


def _has_remote(root: Path = Path(".")) -> bool:
    """Whether the repository's DVC config (or its .local part) names a remote; read without starting DVC."""
    for name in (".dvc/config", ".dvc/config.local"):
        try:
            if "['remote \"" in (root / name).read_text(encoding="utf-8"):  # dvc remote add writes ['remote "x"']
                return True
        except OSError:
            continue
    return False


def cmd_check(args) -> int:
    from bench.judge.gate import check

    return check(args.verdicts, args.table, args.claims, args.claim)


def register(sub) -> None:
    from bench.cli.args import count

    s = sub.add_parser("prepare", help="build the TFDS datasets the suite needs; write data/manifest.json")
    s.add_argument("--data-dir", default="data/tfds")
    s.add_argument("--manual-dir", default="data/manual", help="root of the TFDS manual_dir of each dataset")
    s.add_argument("--manifest", default="data/manifest.json")
    s.add_argument("--offline", action="store_true",
                   help="no downloads: record every dataset that needs one unavailable (without it, one probe of "
                        "the network decides, in seconds)")
    s.set_defaults(func=cmd_prepare)
    s = sub.add_parser("plan", help="write plan/<entry>.json, the recipe each train stage depends on")
    s.add_argument("--out", default="plan")
    s.add_argument("--manifest", default="data/manifest.json")
    s.add_argument("--runs-dir", default="runs", help="where entries that no table has any more are pruned")
    s.add_argument("--select-dir", default="select")
    s.set_defaults(func=cmd_plan)
    s = sub.add_parser("collect", help="gather runs/*/*/metrics.json into results/runs.csv")
    s.add_argument("--runs-dir", default="runs")
    s.add_argument("--out", default="results/runs.csv")
    s.set_defaults(func=cmd_collect)
    s = sub.add_parser("stats", help="judge every cell into results/verdicts.csv")
    s.add_argument("--runs", default="results/runs.csv")
    s.add_argument("--out", default="results/verdicts.csv")
    s.add_argument("--claims-out", default="results/claims.csv")
    s.add_argument("--summary-out", default="results/summary.json", help="counts for `dvc metrics`")
    s.add_argument("--power-out", default="results/power.csv", help="the gate's operating characteristics")
    s.add_argument("--plots-dir", default="results/plots", help="reference vs reproduced, one CSV per metric")
    s.add_argument("--no-pool", action="store_true", help="each cell its own seed variance (no pooling groups)")
    s.set_defaults(func=cmd_stats)
    s = sub.add_parser("power", help="how often the gate is wrong, per table (simulated with its exact rules)")
    s.add_argument("--verdicts", default="results/verdicts.csv", help="observed spreads, when the stage ran")
    s.add_argument("--seeds", type=count(2, 64, "seeds per cell: a verdict needs at least 2; the simulations "
                                                "go up to 64"),
                   help="seeds per cell of every table, 2 to 64 (default: each table's `seeds`, else params.yaml's)")
    s.add_argument("--no-pool", action="store_true", help="each cell its own seed variance (no pooling)")
    s.set_defaults(func=cmd_power)
    s = sub.add_parser("report", help="render reports/index.html and reports/summary.md")
    s.add_argument("--verdicts", default="results/verdicts.csv")
    s.add_argument("--claims", default="results/claims.csv")
    s.add_argument("--runs", default="results/runs.csv")
    s.add_argument("--power", default="results/power.csv")
    s.add_argument("--out-dir", default="reports")
    s.add_argument("--runs-dir", default="runs", help="the runs' per-step logs (learning curves)")
    s.add_argument("--studies", default="results/studies", help="the improvement studies analysed (bench study analyze)")
    s.add_argument("--compare", metavar="REV", help="instead of rendering: print the cells whose mean, runs or "
                                                   "verdict differ between REV (a git revision or a DVC "
                                                   "experiment) and the workspace")
    s.add_argument("--against", metavar="REV", help="with --compare: the second revision (default: the workspace)")
    s.set_defaults(func=cmd_report)
    s = sub.add_parser("check", help="CI gate: exit 1 when a cell is DISCREPANT in the worse direction "
                                     "or a claim is CONTRADICTED")
    s.add_argument("--verdicts", default="results/verdicts.csv")
    s.add_argument("--claims", default="results/claims.csv")
    s.add_argument("--table", action="append", help="limit to this table id (repeatable): its cells and claims")
    s.add_argument("--claim", action="append", help="limit to this claim id (repeatable)")
    s.set_defaults(func=cmd_check)
