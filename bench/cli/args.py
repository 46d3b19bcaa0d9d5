"""argparse types for the numeric flags: a value out of range is a usage error naming the flag (exit 2), never a
traceback nor a silently different run."""

from __future__ import annotations

import argparse
import math
from typing import Callable


def fraction(text: str) -> float:
    """A model FLOPs utilisation: a finite number in (0, 1] (0.4: 40% of the card's dense bf16 peak)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction in (0, 1] (0.4 is 40% of the card's peak)")
    return value


def count(lo: int, hi: int, what: str) -> Callable[[str], int]:
    """An integer in [lo, hi]; `what` says why the bounds are what they are."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside [{lo}, {hi}]: {what}")
        return value

    return parse
