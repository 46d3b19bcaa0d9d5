"""The stages a scale-out driver runs: DVC's pending `select@*`, `train@*` and `study@*` stages (everything
that trains), with what each needs."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

PHASES = ("select@", "train@", "study@")


@dataclass(frozen=True)
class Stage:
    name: str  # select@<entry>, train@<entry>-<seed> or study@<study>.<arm>.<dataset>
    cmd: str  # as DVC expands it from dvc.yaml
    volatile: tuple[str, ...] = ()  # outputs that are not `persist`: DVC deletes them before the stage runs

    @property
    def kind(self) -> str:
        return self.name.split("@", 1)[0]

    @property
    def entry(self) -> str:
        """The table entry (select, train) or the study cell (study)."""
        rest = self.name.split("@", 1)[1]
        return rest.rsplit("-", 1)[0] if self.kind == "train" else rest

    @property
    def planned(self) -> bool:
        """Whether the stage runs a plan file's entry (what the memory check reads); a study cell's plans are
        its trials'."""
        return self.kind in ("select", "train")

    @property
    def file_name(self) -> str:
        """The stage as a file name (logs, job scripts)."""
        return self.name.replace("@", "_")

    def clear_outputs(self) -> None:
        """What `dvc repro` does before running a stage: its non-persistent outputs go, so a run that fails
        cannot leave an old output behind to be committed as new."""
        for out in self.volatile:
            Path(out).unlink(missing_ok=True)


def pending() -> list[Stage]:
    """Every select@/train@/study@ stage DVC considers changed (or never run), in dvc.yaml order."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        changed = set(repo.status())
        return [Stage(s.addressing, s.cmd, tuple(str(o.def_path) for o in s.outs if not o.persist))
                for s in repo.index.stages if s.addressing.startswith(PHASES) and s.addressing in changed]


def dvc(*args: str, env: dict | None = None, quiet: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["dvc", *args], env=env, text=True, capture_output=quiet, check=False)


def prologue() -> None:
    """prepare and plan, which every select and train stage reads."""
    from bench.errors import BenchError

    if dvc("repro", "plan").returncode != 0:
        raise BenchError("`dvc repro plan` failed (prepare or plan); see its output above")
