"""Scale-out: `bench workers` (one worker per GPU of a machine) and `bench slurm` (SLURM jobs)."""

from __future__ import annotations


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


def register(sub) -> None:
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
