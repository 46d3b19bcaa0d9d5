"""Scale-out: `bench workers` (one worker per GPU of a machine) and `bench slurm` (SLURM jobs)."""

from __future__ import annotations


def _train_settings() -> tuple[str, int]:
    """train.micro_batch and train.threads from params.yaml (what the stages will run with)."""
    from bench.tables.params import load_params

    train = load_params().train
    return str(train.micro_batch), train.threads or 1


def cmd_workers(args) -> int:
    from bench.scale.workers import run_workers

    micro, _ = _train_settings()
    return run_workers(args.devices, micro, args.log_dir)


def cmd_slurm(args) -> int:
    from bench.scale.slurm import Driver, Options

    micro, threads = _train_settings()
    opts = Options(partition=args.partition, gpus=args.gpus, cpus=args.cpus, mem=args.mem, time=args.time,
                   signal_s=args.signal_s, max_restarts=args.max_restarts, poll_s=args.poll,
                   max_pending_h=args.max_pending_h, max_unreachable_min=args.max_unreachable_min,
                   leave_jobs=args.leave_jobs, card=args.card, log_dir=args.log_dir)
    return Driver(opts).run(micro, threads)


def register(sub) -> None:
    s = sub.add_parser("workers", help="run the pending select/train stages in parallel, one worker per GPU")
    s.add_argument("--devices", help="comma-separated device ids, one worker each (e.g. 0,1,2,3; indices into "
                                     "CUDA_VISIBLE_DEVICES when it is set); default: every visible GPU")
    s.add_argument("--log-dir", default="runs/.logs", help="one log per stage")
    s.set_defaults(func=cmd_workers)

    s = sub.add_parser("slurm", help="run the pending select/train stages as SLURM jobs")
    s.add_argument("--partition", help="default: the cluster's default partition")
    s.add_argument("--gpus", type=int, help="GPUs per job (several: through torchrun); default: 1 on a partition "
                                            "with GPUs, else 0")
    s.add_argument("--cpus", type=int, help="CPUs per job; default: a GPU's share of a node, or train.threads")
    s.add_argument("--mem", help="memory per job (e.g. 64G); default: the job's share of a node's memory")
    s.add_argument("--time", help="time limit per job (minutes, HH:MM:SS, D-HH:MM:SS); default: the partition's, "
                                  "at most 24 h. A job that reaches it saves a resume point and is resubmitted")
    s.add_argument("--signal-s", type=int, default=180,
                   help="seconds before the time limit at which the run saves its resume point and stops")
    s.add_argument("--max-restarts", type=int, default=3, help="resubmissions per stage after time limits")
    s.add_argument("--card", help="GPU model for the memory check (H100, H200, A100, L40S, L4); default: from "
                                  "the partition's GPU type")
    s.add_argument("--poll", type=float, default=30.0, help="seconds between looks at the queue")
    s.add_argument("--max-pending-h", type=float, default=48.0, help="cancel a job pending longer than this")
    s.add_argument("--max-unreachable-min", type=float, default=10.0,
                   help="give up (leaving the jobs) when squeue fails for this long")
    s.add_argument("--leave-jobs", action="store_true",
                   help="on Ctrl-C or an error, leave the jobs running (the next bench slurm adopts them) "
                        "instead of cancelling them")
    s.add_argument("--log-dir", default="runs/.slurm", help="job scripts, logs and exit statuses")
    s.set_defaults(func=cmd_slurm)
