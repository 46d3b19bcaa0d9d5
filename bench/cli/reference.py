"""Recording the embedded tables' references: `bench tune-rho` and `bench record-reference`."""

from __future__ import annotations

from bench.errors import BenchError
from bench.tables.schema import seed_arg


def cmd_tune_rho(args) -> int:
    from bench.tables.table import all_entries, load_tables
    from bench.tables.params import load_params
    from bench.train.tune import tune_rho

    entries = all_entries(load_tables(load_params(args.params).tables))
    if args.entry not in entries or not entries[args.entry].runs:
        raise BenchError(f"unknown entry {args.entry!r}; valid choices: "
                         f"{', '.join(sorted(e for e in entries if entries[e].runs))}")
    best, scores = tune_rho(entries[args.entry].plan(), args.grid, args.seeds, args.data_dir, args.holdout)
    for rho, values in scores.items():
        print(f"rho {rho:g}: mean held-out top1 {sum(values) / len(values):.2f}% over seeds {args.seeds}")
    print(f"best rho: {best:g}")
    return 0


def cmd_record_reference(args) -> int:
    from bench.tables.params import load_params, load_suite
    from bench.train.record import record

    tables = load_suite(load_params(args.params))
    chosen = {k: v for k, v in tables.items() if not args.table or k in args.table}
    record(chosen, args.seeds, args.data_dir, args.entry)
    return 0


def register(sub) -> None:
    s = sub.add_parser("tune-rho", help="choose SAM's rho on a held-out part of the training split")
    s.add_argument("--entry", required=True)
    s.add_argument("--grid", type=float, nargs="+", default=[0.01, 0.02, 0.05, 0.1, 0.2, 0.5])
    s.add_argument("--seeds", type=seed_arg, nargs="+", default=[0, 1])
    s.add_argument("--holdout", type=float, default=0.1)
    s.add_argument("--data-dir", default="data/tfds")
    s.set_defaults(func=cmd_tune_rho)

    s = sub.add_parser("record-reference", help="train with other seeds and write the tables' recorded references")
    s.add_argument("--table", action="append", help="limit to this table id (repeatable)")
    s.add_argument("--entry", action="append", help="record only this entry's reference (repeatable); its source "
                                                    "line names the commit, seeds and date")
    s.add_argument("--seeds", type=seed_arg, nargs="+", default=[100, 101, 102, 103, 104])
    s.add_argument("--data-dir", default="data/tfds")
    s.set_defaults(func=cmd_record_reference)
