"""`bench study`: improvement studies (experiments/studies/*.yaml; bench.study).

    bench study list                      the study files, their arms, cells and budgets
    bench study cost NAME [--card H100]   estimated GPU-hours, tuning and final runs separately
    bench study use NAME [NAME ...]       the studies `dvc repro` runs (params.yaml: study_cells)
    bench study cell --cell S.A.D         DVC stage study@S.A.D: tune the arm on the dataset, then its final runs
    bench study analyze                   DVC stage study_stats: effects, aggregates, tuning curves
    bench study run NAME                  every cell of one study, then analyze (without DVC)
    bench study repair S.A.D              set a cut or corrupt line of the cell's tuning journal aside
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.errors import BenchError

OUT = Path("studies")  # studies/<cell>/tune (Optuna's journal, trials.csv, best.json), studies/<cell>/final
RESULTS = Path("results/studies")


def _studies(params_path: str, names: list[str] | None = None):
    from bench.tables.params import every_suite
    from bench.tables.study import STUDY_DIR, load_studies

    _, tables = every_suite(params_path)
    return load_studies(sorted(STUDY_DIR.glob("*.yaml")) if names is None else names, tables)


def cmd_list(args) -> int:
    for s in _studies(args.params).values():
        print(f"{s.id}: {s.title}")
        print(f"  baseline entry {s.entry}; {len(s.arms)} arms x {len(s.datasets)} datasets = {len(s.cells())} "
              f"cells; {s.trials} trials per cell; final seeds {list(s.seeds)}")
        for a in s.arms.values():
            print(f"  - {a.name}: {a.text}; space: {'; '.join(p.describe() for p in a.space)}")
    return 0


def cmd_cost(args) -> int:
    from bench.scale.cost import check_card, study_cost

    check_card(args.card)
    study = _studies(args.params, [args.name])[args.name]
    print(f"study {study.id}: estimated cost (FLOPs on the meta device at an assumed MFU; not measured)")
    sys.stdout.write(study_cost(study, args.card, args.mfu))
    return 0


def cmd_use(args) -> int:
    studies = _studies(args.params, args.names)
    cells = [c for s in studies.values() for c in s.cells()]
    _write_cells(args.params, cells)
    print(f"params.yaml: study_cells = {len(cells)} cells of {', '.join(studies)}; run `dvc repro`")
    return 0


def _write_cells(path: str, cells: list[str]) -> None:
    from bench.io import write_text
    from bench.tables.params import replace_list

    lines = Path(path).read_text(encoding="utf-8").splitlines()
    write_text(path, "\n".join(replace_list(lines, "study_cells", cells)) + "\n")


def _cell(args, cell: str, study=None) -> None:
    from bench.study.final import final_runs
    from bench.tables.study import split_cell
    from bench.study.tune import tune
    from bench.train.loop import RunConfig

    try:
        sid, arm, dataset = split_cell(cell)
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    study = study or _studies(args.params, [sid])[sid]
    if arm not in study.arms or dataset not in study.datasets:
        raise BenchError(f"{cell}: study {sid} has arms {list(study.arms)} and datasets {list(study.datasets)}")
    threads = args.threads if args.threads is not None else _params(args.params).train.threads
    if threads:  # the same count as the journal's trials: with another, held-out scores can differ in the last
        import torch  # digits, enough to flip a pruning decision and change the later draws

        torch.set_num_threads(threads)
    run = RunConfig(device=args.device, progress=False)
    best = tune(study, arm, dataset, Path(args.out_dir) / cell / "tune", args.data_dir, run)
    final_runs(study, arm, dataset, best, Path(args.out_dir) / cell / "final", args.data_dir, run)


def _params(path: str):
    from bench.tables.params import load_params

    return load_params(path)


def cmd_repair(args) -> int:
    """Set a tuning journal's bad lines aside (bench.study.journal.repair), after showing what and asking."""
    from bench.study.journal import JOURNAL, repair
    from bench.tables.study import split_cell

    try:
        split_cell(args.cell)
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    path = Path(args.out_dir) / args.cell / "tune" / JOURNAL
    if not path.is_file():
        raise BenchError(f"{path} not found: no tuning journal for {args.cell} under {args.out_dir}/")

    def confirm(plan: str) -> bool:
        print(plan, flush=True)
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise BenchError(f"{path}: nothing changed; confirm with --yes (no terminal to ask on)")
        return input("Set them aside? [y/N] ").strip().lower() in ("y", "yes")

    print(repair(path, confirm))
    return 0


def cmd_cell(args) -> int:
    _cell(args, args.cell)
    return 0


def cmd_run(args) -> int:
    study = _studies(args.params, [args.name])[args.name]
    for i, cell in enumerate(study.cells(), 1):
        print(f"[cell {i}/{len(study.cells())}] {cell}", flush=True)
        _cell(args, cell, study)
    args.names = [args.name]
    return cmd_analyze(args)


def cmd_analyze(args) -> int:
    from bench.study.results import analyze_all

    names = getattr(args, "names", None)
    studies = _studies(args.params, names) if names is not None else _used(args.params)  # none used: none
    summary = analyze_all(studies, Path(args.out_dir), Path(args.results_dir))
    print(json.dumps(summary, indent=1))
    return 0


def _used(params_path: str) -> dict:
    """The studies params.yaml's study_cells name, by id (each cell checked: its study, arm and dataset exist)."""
    from bench.tables.params import check_study_cells, every_suite

    params, tables = every_suite(params_path)
    return check_study_cells(params, tables)


def register(sub) -> None:
    from bench.cli.args import count, fraction

    s = sub.add_parser("study", help="improvement studies: a change against a baseline, equal tuning budgets")
    ss = s.add_subparsers(dest="action", required=True)
    p = ss.add_parser("list", help="the study files with their arms and budgets")
    p.set_defaults(func=cmd_list)
    p = ss.add_parser("cost", help="a study's estimated GPU-hours, tuning and final runs separately")
    p.add_argument("name")
    p.add_argument("--card", default="H100", help="H100, H200, A100, L40S, L4, ... (bench/scale/cost.py)")
    p.add_argument("--mfu", type=fraction, default=0.4, help="the model FLOPs utilisation assumed, in (0, 1]")
    p.set_defaults(func=cmd_cost)
    p = ss.add_parser("use", help="set the studies `dvc repro` runs (params.yaml: study_cells)")
    p.add_argument("names", nargs="+")
    p.set_defaults(func=cmd_use)
    for name, func, helptext in (("cell", cmd_cell, "tune one (arm, dataset) and train its final seeds"),
                                 ("run", cmd_run, "every cell of a study, then analyze (without DVC)")):
        p = ss.add_parser(name, help=helptext)
        if name == "cell":
            p.add_argument("--cell", required=True, help="<study>.<arm>.<dataset>")
        else:
            p.add_argument("name")
        p.add_argument("--out-dir", default=str(OUT))
        p.add_argument("--results-dir", default=str(RESULTS))
        p.add_argument("--data-dir", default="data/tfds")
        p.add_argument("--device", default="auto")
        p.add_argument("--threads", type=count(0, 1024, "torch CPU threads (0: torch's choice)"),
                       help="torch CPU threads (default: params.yaml's train.threads; a journal's trials reproduce "
                            "exactly at the thread count that made them; 0: torch's choice)")
        p.set_defaults(func=func)
    p = ss.add_parser("repair", help="set a cell's cut or corrupt tuning-journal lines aside (shows what, asks first)")
    p.add_argument("cell", help="<study>.<arm>.<dataset>")
    p.add_argument("--out-dir", default=str(OUT))
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(func=cmd_repair)
    p = ss.add_parser("analyze", help="effects, aggregates and tuning curves into results/studies/")
    p.add_argument("--out-dir", default=str(OUT))
    p.add_argument("--results-dir", default=str(RESULTS))
    p.set_defaults(func=cmd_analyze)
