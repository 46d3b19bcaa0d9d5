"""User-facing errors: every message names the file and the field at fault."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BenchError(Exception):
    """An error a user can fix; the CLI prints it without a traceback and exits 2 (or its `exit_code`)."""


class TableError(BenchError):
    """A problem in one table file (or params file), located by a dotted field path."""

    def __init__(self, file: str, field: str, message: str):
        self.file, self.field, self.message = str(file), field, message
        super().__init__(f"{self.file}: {field or '<top level>'}: {message}")


def choices(name: object, valid: Iterable[str]) -> str:
    """'unknown X' tail: the valid choices, and the closest one if any is close."""
    valid = sorted(valid)
    hint = difflib.get_close_matches(str(name), valid, n=1)
    shown = ", ".join(valid) if len(valid) <= 12 else ", ".join(valid[:12]) + f", ... ({len(valid)} in all)"
    return f"valid choices: {shown}" + (f" (did you mean '{hint[0]}'?)" if hint else "")
