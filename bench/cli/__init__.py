"""`bench <subcommand>`: the thin command-line layer over the library.

Each DVC stage in dvc.yaml is one subcommand:
    bench prepare | plan | select --entry E | train --entry E --seed S | collect | stats | report
and beside them `bench validate`, `bench schema`, `bench check` (the CI gate),
`bench suite` (list the suites, `use` one) and `bench published` (the papers'
cells as CSV). Each group of subcommands registers its own arguments:
bench.cli.tables, .pipeline, .training (the stages that train), .reference
and .scale.
"""

from __future__ import annotations

import argparse
import sys

from bench.errors import BenchError


def parser() -> argparse.ArgumentParser:
    # Each group's module holds its handlers; a stage runs one handler (dvc.yaml's deps follow from that).
    from bench.cli import pipeline, reference, scale, study, tables, training

    p = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    sub = p.add_subparsers(dest="command", required=True)
    for group in (tables, pipeline, training, reference, scale, study):
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    import os

    args = parser().parse_args(argv)
    stage = os.environ.get("DVC_STAGE")  # set by `dvc repro` for each stage's command: "train@vit_p4_digits-0"
    if stage:
        from bench.progress import announce

        announce(stage, getattr(args, "plan_dir", None) or "plan")
    try:
        return args.func(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)  # 2, or what a run stopped by a signal reports (bench.train.loop)
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
