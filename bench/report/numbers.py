"""Numbers as a reader sees them, the same in the HTML report, summary.md and `bench show`.

A published value keeps its printed digits ("14.00" stays "14.00"); our
numbers for that cell are written to the same number of decimals; p-values
read "p < 0.001" or "p = 0.012"; a missing number is an en dash.
"""

from __future__ import annotations

import math

MISSING = "–"


def _missing(value) -> bool:
    try:
        return value is None or value == "" or math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def decimals(printed: str | None, default: int = 2) -> int:
    """Decimals of a number as printed ("99.50" -> 2, "<0.1" -> 1, "88" -> 0); `default` without one."""
    text = str(printed or "").strip().lstrip("<").strip()
    if not text or text.lower() == "nan":
        return default
    return len(text.split(".")[1]) if "." in text else 0


def number(value, digits: int = 2) -> str:
    return MISSING if _missing(value) else f"{float(value):.{digits}f}"


def signed(value, digits: int = 2) -> str:
    return MISSING if _missing(value) else f"{float(value):+.{digits}f}"


def printed(value, text: str | None, digits: int = 2) -> str:
    """A published value as printed when its text is known, else to `digits` decimals."""
    text = "" if _missing(text) else str(text).strip()
    return text or number(value, digits)


def p_value(p) -> str:
    if _missing(p):
        return f"p = {MISSING}"
    return "p < 0.001" if float(p) < 0.001 else f"p = {float(p):.3f}"


def interval(low, high, digits: int = 2) -> str:
    return f"[{number(low, digits)}, {number(high, digits)}]"
