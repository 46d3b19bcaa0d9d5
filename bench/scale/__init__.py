"""Running a suite's stages in parallel: every GPU of a machine, or a SLURM cluster.

    bench workers [--devices 0,1,2,3]    one worker per GPU on this machine (bench.scale.workers)
    bench slurm [--partition gpu]        one SLURM job per stage (bench.scale.slurm)

Both take the pending `select@*`, `train@*` and `study@*` stages from DVC (bench.scale.stages)
and run them in dependency order (bench.scale.schedule): an entry's train stages
start as soon as its own selection is done, not after every selection. Before
a stage starts, its estimated peak GPU memory is checked against the card
(bench.scale.fit), so a stage that cannot fit is refused with the reason
instead of failing hours later. A failed stage does not stop the others; it is
listed at the end and the command exits 1. Rerunning picks up only what is
still pending (a stage stopped midway resumes from its resume point).
"""
