"""A cell's tuning journal (`optuna.log`, Optuna's JournalFileBackend): one JSON record a line, replayed on open.

Optuna itself stops at a line it cannot parse (a JSONDecodeError on every later open) and, when a write
fails, leaves half a record at the end that the next run appends to. Here:

  * a write that fails (a full disk) is undone, the file cut back to its last whole record, and every later
    write of that process refused: `tune` stops with one line (JournalWriteError) and the finished trials stay
    in the journal for the rerun once space is freed (the trial cut off runs again);
  * on open, a last line that is not a whole record (a write stopped by a kill, or an undo that failed) is
    set aside in `optuna.log.torn-<n>`, said in one line, and the journal continues from the records before;
  * a bad line anywhere else is an error naming the journal and the line, with the command that repairs it:
    `bench study repair <cell>` sets the bad lines aside in `optuna.log.bad-<n>` (keeping a whole record that
    a rerun glued to a torn one), after showing what it will do and asking.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Callable

from bench.errors import BenchError

JOURNAL = "optuna.log"


class JournalWriteError(BenchError):
    """A journal write failed (disk full, quota, I/O error); what the journal held before it is intact."""


def _whole(line: bytes) -> bool:
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(record, dict) and isinstance(record.get("op_code"), int)


def _glued(line: bytes) -> int | None:
    """Where a whole record starts inside a bad line (a torn record with a rerun's record appended to it)."""
    at = line.find(b'{"op_code"', 1)
    while at > 0:
        if _whole(line[at:]):
            return at
        at = line.find(b'{"op_code"', at + 1)
    return None


def scan(path: Path) -> tuple[list[bytes], list[int]]:
    """The journal's lines (with their newlines) and the indices of those that are not whole records."""
    lines = path.read_bytes().splitlines(keepends=True) if path.is_file() else []
    bad = [i for i, line in enumerate(lines) if not line.endswith(b"\n") or not _whole(line)]
    return lines, bad


def _side(path: Path, kind: str) -> Path:
    n = 1
    while path.with_name(f"{path.name}.{kind}-{n}").exists():
        n += 1
    return path.with_name(f"{path.name}.{kind}-{n}")


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def check(path: Path, repair_command: str) -> None:
    """Before Optuna reads the journal: a torn last line set aside (said in one line); a bad line elsewhere an
    error naming it and the repair."""
    lines, bad = scan(path)
    if not bad:
        return
    first = bad[0]
    if first == len(lines) - 1:
        side = _side(path, "torn")
        try:
            _write_bytes(side, lines[first])
            os.truncate(path, sum(len(line) for line in lines[:first]))
        except OSError as exc:
            raise BenchError(f"{path}: its last line is cut off and cannot be set aside ({exc.strerror or exc}); "
                             f"free some space and rerun") from None
        print(f"{path}: its last line (line {first + 1}) was cut off by an interrupted write: set aside in "
              f"{side.name}; the tuning continues from the {first} records before it", flush=True)
        return
    raise BenchError(f"{path}: line {first + 1} is not a whole journal record (of {len(lines)} lines; cut or "
                     f"edited), so Optuna cannot replay the journal. Run `{repair_command}` to set the bad line"
                     f"{'s' if len(bad) > 1 else ''} aside (it shows what it will do and asks first), or delete "
                     f"{path.parent} to tune this cell afresh")


def backend(path: Path, repair_command: str):
    """The journal checked (`check`) and opened for Optuna, its appends undone when they fail."""
    from optuna.storages.journal import JournalFileBackend

    path.parent.mkdir(parents=True, exist_ok=True)
    check(path, repair_command)

    class Safe(JournalFileBackend):
        failure: str | None = None

        def append_logs(self, logs: list) -> None:
            if self.failure is not None:  # nothing may follow a failed write: refuse every later one
                raise JournalWriteError(self.failure)
            size = path.stat().st_size if path.exists() else 0
            try:
                super().append_logs(logs)
            except OSError as exc:
                try:
                    os.truncate(path, size)  # the part written goes: the journal ends with its last whole record
                except OSError:
                    pass  # left torn: `check` sets the line aside on the next open
                reason = exc.strerror or os.strerror(exc.errno or errno.EIO)
                self.failure = (f"{path}: cannot write the tuning journal: {reason} (errno {exc.errno}); the "
                                "finished trials are kept: free some space and rerun (the trial cut off runs again)")
                raise JournalWriteError(self.failure) from None

    return Safe(str(path))


def write_failure(exc: BaseException) -> JournalWriteError | None:
    """The journal write failure behind an exception Optuna raised while handling it (its own assertion)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, JournalWriteError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def repair(path: Path, confirm: Callable[[str], bool]) -> str:
    """Set the journal's bad lines aside in `optuna.log.bad-<n>` once `confirm(plan)` agrees; a whole record glued
    after a torn one is kept. Checked afterwards: the journal must replay, else the original is put back."""
    lines, bad = scan(path)
    if not bad:
        return f"{path}: every line is a whole record; nothing to repair"
    kept, removed, plan = [], [], []
    for i, line in enumerate(lines):
        if i not in bad:
            kept.append(line)
            continue
        at = _glued(line.rstrip(b"\n")) if line.endswith(b"\n") else None
        if at is not None:
            removed.append(line[:at])
            kept.append(line[at:])
            plan.append(f"line {i + 1}: a cut-off record ({at} bytes) with a whole record after it: the cut-off "
                        "part is set aside, the record kept")
        else:
            removed.append(line.rstrip(b"\n"))
            plan.append(f"line {i + 1}: not a whole record ({len(line)} bytes): set aside")
    side = _side(path, "bad")
    plan_text = "\n".join([f"{path}: {len(bad)} of {len(lines)} lines to set aside in {side.name}:", *plan,
                           "Trials whose records are set aside are marked cut off and run again."])
    if not confirm(plan_text):
        return "nothing changed"
    original = b"".join(lines)
    _write_bytes(side, b"\n".join(removed) + b"\n")
    tmp = path.with_name(f".{path.name}.repair")
    _write_bytes(tmp, b"".join(kept))
    os.replace(tmp, path)
    try:
        import optuna
        from optuna.storages.journal import JournalFileBackend

        storage = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        for study in storage.get_all_studies():
            storage.get_all_trials(study._study_id, deepcopy=False)
    except Exception as exc:  # noqa: BLE001  (whatever Optuna raises on a journal it cannot replay)
        _write_bytes(path, original)
        raise BenchError(f"{path}: without its bad lines the journal still does not replay ({exc!r:.120}); put "
                         f"back as it was. Delete {path.parent} to tune this cell afresh") from None
    return f"{path}: {len(bad)} lines set aside in {side.name}; rerun the cell to continue its tuning"
