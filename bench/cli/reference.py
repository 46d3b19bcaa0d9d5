"""Recording the embedded tables' references: `bench record-reference`."""

from __future__ import annotations

from bench.tables.schema import seed_arg


def cmd_record_reference(args) -> int:
    from bench.tables.params import load_params, load_suite
    from bench.train.record import record

    tables = load_suite(load_params(args.params))
    chosen = {k: v for k, v in tables.items() if not args.table or k in args.table}
    record(chosen, args.seeds, args.data_dir, args.entry)
    return 0


def register(sub) -> None:
    s = sub.add_parser("record-reference", help="train with other seeds and write the tables' recorded references")
    s.add_argument("--table", action="append", help="limit to this table id (repeatable)")
    s.add_argument("--entry", action="append", help="record only this entry's reference (repeatable); its source "
                                                    "line names the commit, seeds and date")
    s.add_argument("--seeds", type=seed_arg, nargs="+", default=[100, 101, 102, 103, 104])
    s.add_argument("--data-dir", default="data/tfds")
    s.set_defaults(func=cmd_record_reference)
