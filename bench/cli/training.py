"""The stages that train: `bench select` (DVC stage select@E) and `bench train` (train@E-S).

Everything this module runs can change a run's result, so it and every
module it imports are dependencies of those stages in dvc.yaml (a test
checks that no module is missing there).
"""

from __future__ import annotations

from pathlib import Path

from bench.tables.schema import seed_arg


def micro_batch_arg(value: str) -> str | int | None:
    import argparse

    from bench.errors import BenchError
    from bench.train.micro import parse

    try:
        return parse(value)
    except BenchError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_select(args) -> int:
    from bench.train.stage import read_plan, select

    plan = read_plan(args.plan_dir, args.entry)
    _threads(args.threads)
    select(plan, Path(args.out_dir) / f"{plan.entry}.json", args.data_dir, _run_config(args, None))
    return 0


def _run_config(args, run_dir: Path | None):
    from bench.train.loop import RunConfig

    return RunConfig(device=args.device, precision=args.precision, channels_last=args.channels_last,
                     compile=args.compile == "true", micro_batch=args.micro_batch, run_dir=run_dir,
                     checkpoint_every=args.checkpoint_every)


def _threads(n: int) -> None:
    if n:  # only when asked: importing torch is most of a light stage's start-up
        import torch

        torch.set_num_threads(n)


def cmd_train(args) -> int:
    from bench.io import read_json
    from bench.train.stage import read_plan, train_stage

    plan = read_plan(args.plan_dir, args.entry)
    selected = read_json(Path(args.select_dir) / f"{plan.entry}.json", "run `bench select` first")
    run_dir = Path(args.runs_dir) / plan.entry / str(args.seed)
    _threads(args.threads)
    train_stage(plan, selected, args.seed, args.data_dir, run_dir, _run_config(args, run_dir),
                keep_checkpoint=args.keep_checkpoint == "true")
    return 0


def register(sub) -> None:
    s = sub.add_parser("select", help="choose an entry's lr or rho on held-out data (select/<entry>.json)")
    s.add_argument("--entry", required=True)
    s.add_argument("--plan-dir", default="plan")
    s.add_argument("--out-dir", default="select")
    s.add_argument("--data-dir", default="data/tfds")
    _engine_args(s, "each grid value's run")
    s.set_defaults(func=cmd_select)

    s = sub.add_parser("train", help="train and evaluate one (entry, seed)")
    s.add_argument("--entry", required=True)
    s.add_argument("--seed", type=seed_arg, required=True, help="an integer in [0, 2**31)")
    s.add_argument("--plan-dir", default="plan")
    s.add_argument("--select-dir", default="select")
    s.add_argument("--data-dir", default="data/tfds")
    s.add_argument("--runs-dir", default="runs")
    _engine_args(s, "runs/<entry>/<seed>/resume.pt")
    s.add_argument("--keep-checkpoint", choices=("true", "false"), default="false",
                   help="write the final weights to runs/<entry>/<seed>/checkpoint.pt (false: a small record "
                        "with their digest)")
    s.set_defaults(func=cmd_train)


def _engine_args(s, resume_point: str) -> None:
    """How a run executes (the same for a selection's runs and a train stage's)."""
    s.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    s.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default: torch's choice)")
    s.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto: bf16 autocast on CUDA, float32 on CPU")
    s.add_argument("--channels-last", choices=("auto", "true", "false"), default="auto",
                   help="auto: on CUDA for convolutional models")
    s.add_argument("--compile", choices=("true", "false"), default="false", help="torch.compile the model")
    s.add_argument("--micro-batch", type=micro_batch_arg, default="auto",
                   help="most examples per forward pass on this machine (the update is unchanged): auto (on CUDA, "
                        "what an estimate says fits the card), off (the recipe's micro-batches), or a number")
    s.add_argument("--checkpoint-every", type=int, default=0,
                   help=f"save a resume point ({resume_point}) every N steps, and on SIGTERM or SIGUSR2; "
                        "0: only on those signals")
