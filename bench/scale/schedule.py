"""Dependency order for scale-out: a train stage waits for its entry's selection, and only for that.

Selections go first (each gates an entry's seeds); a train stage becomes ready
the moment its own select stage succeeds, and is skipped (with the reason) if
that selection fails. Thread-safe: `bench workers` takes stages from several
threads.
"""

from __future__ import annotations

import threading
from collections import deque

from bench.scale.stages import Stage


class Schedule:
    def __init__(self, stages: list[Stage]):
        self.stages = {s.name: s for s in stages}
        self.waits_for = {s.name: f"select@{s.entry}" for s in stages
                          if s.kind == "train" and f"select@{s.entry}" in self.stages}
        first = [s for s in stages if s.kind == "select"] + [s for s in stages if s.kind != "select"]
        self.ready: deque[Stage] = deque(s for s in first if s.name not in self.waits_for)
        self.running: set[str] = set()
        self.done: list[str] = []
        self.failed: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        self.changed = threading.Condition()

    def take(self) -> Stage | None:
        """The next ready stage (now running), or None when none is ready yet."""
        with self.changed:
            if not self.ready:
                return None
            stage = self.ready.popleft()
            self.running.add(stage.name)
            return stage

    def wait_for_work(self) -> Stage | None:
        """The next ready stage, waiting while others run; None when nothing is left to start."""
        with self.changed:
            while not self.ready and self.running:
                self.changed.wait()
            return self.take()

    def finish(self, name: str, ok: bool, reason: str = "") -> None:
        with self.changed:
            self.running.discard(name)
            if ok:
                self.done.append(name)
            else:
                self.failed[name] = reason or "failed"
            for dependent, selection in list(self.waits_for.items()):
                if selection != name:
                    continue
                del self.waits_for[dependent]
                if ok:
                    self.ready.append(self.stages[dependent])
                else:
                    self.skipped[dependent] = f"not run: {name} failed"
            self.changed.notify_all()

    def requeue(self, stage: Stage) -> None:
        """Back to the front of the queue (a job stopped at its time limit, to continue from its resume point)."""
        with self.changed:
            self.running.discard(stage.name)
            self.ready.appendleft(stage)
            self.changed.notify_all()

    @property
    def finished(self) -> bool:
        with self.changed:
            return not self.ready and not self.running and not self.waits_for

    def progress(self) -> str:
        with self.changed:
            return (f"{len(self.done)}/{len(self.stages)} done, {len(self.running)} running, "
                    f"{len(self.failed) + len(self.skipped)} failed or skipped")


def report(schedule: Schedule) -> int:
    """The failures, then the exit status: 0 when every stage succeeded."""
    import sys

    problems = {**schedule.failed, **schedule.skipped}
    if not problems:
        return 0
    print(f"{len(problems)} stages did not finish (completed stages are kept; rerun to retry the rest):",
          file=sys.stderr)
    for name, reason in problems.items():
        print(f"  {name}: {reason}", file=sys.stderr)
    return 1
