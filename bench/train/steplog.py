"""Per-step training logs through dvclive (DVC's own experiment logger).

    runs/<entry>/<seed>/dvclive/plots/metrics/train/{loss,lr,images_per_s}.tsv

About `POINTS` logged steps per run (every `steps // POINTS` steps, and the
last), so a long run's log stays small and logging costs nothing measurable;
`dvc plots show` draws them (dvc.yaml declares them as the train stage's
plots), and the report draws them as learning curves. A resumed run first
drops the rows logged after its resume point, so the log matches an
uninterrupted run's.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.io import series_dir

POINTS = 50
NAMES = ("loss", "lr", "images_per_s")


def _truncate(run_dir: Path, step: int) -> None:
    for name in NAMES:
        path = series_dir(run_dir) / f"{name}.tsv"
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            at = lines[0].split("\t").index("step")
            kept = lines[:1] + [line for line in lines[1:] if int(line.split("\t")[at]) <= step]
            path.write_text("\n".join(kept) + "\n", encoding="utf-8")


class StepLog:
    """Logs (loss, lr, images/s) every `every` steps; a no-op without a run directory (selection runs)."""

    def __init__(self, run_dir: Path | None, steps: int, start: int, batch_size: int):
        self.every, self.steps, self.batch = max(1, steps // POINTS), steps, batch_size
        self.live, self.since, self.last_step = None, time.perf_counter(), start
        if run_dir is None or steps == 0:
            return
        from dvclive import Live

        if start:
            _truncate(Path(run_dir), start)
        else:  # a fresh run: no rows of an earlier run of this directory
            for name in NAMES:
                (series_dir(run_dir) / f"{name}.tsv").unlink(missing_ok=True)
        self.live = Live(str(Path(run_dir) / "dvclive"), resume=bool(start), save_dvc_exp=False, dvcyaml=None)

    def step(self, step: int, loss, lr: float) -> None:
        done = step + 1
        if self.live is None or (done % self.every and done != self.steps):
            return
        now = time.perf_counter()
        self.live.step = done
        self.live.log_metric("train/loss", float(loss))
        self.live.log_metric("train/lr", float(lr))
        self.live.log_metric("train/images_per_s", round((done - self.last_step) * self.batch / max(now - self.since,
                                                                                                     1e-9), 1))
        self.live.next_step()
        self.since, self.last_step = now, done

    def close(self) -> None:
        if self.live is not None:
            self.live.end()
