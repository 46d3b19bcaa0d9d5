"""`python -m bench.cli ...` (torchrun: `torchrun ... -m bench.cli train --entry E --seed S`)."""

from bench.cli import run

run()
