"""The optional parts of a table file: `claims:`, `figures:` and `costs:` (schema: experiments/README.md).

Each parser takes the table being built (bench.tables.table.Table: its id, rows
and columns) and raises TableError through the Checker, naming file and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.errors import choices
from bench.tables.schema import Checker


Side = tuple[str, ...]  # (entry,) or (minuend, subtrahend): the per-seed difference of two entries


def side_label(side: Side) -> str:
    """"a" for one entry, "(a - b)" for an effect."""
    return side[0] if len(side) == 1 else f"({side[0]} - {side[1]})"


@dataclass(frozen=True)
class Claim:
    """A paper's claim over (treatment, control) pairs, tested on paired seeds (bench.judge.stats). Each side of a
    pair is one entry, or an effect: the per-seed difference of two entries, so a pair of effects states a
    difference of differences ("SAM's gain on CIFAR-100 exceeds its gain on CIFAR-10")."""

    id: str
    table: str
    text: str
    source: str
    direction: str  # the treatment's metric is "higher" or "lower" than the control's; "within": a cells claim
    pairs: tuple[tuple[Side, Side], ...]  # (treatment, control)
    # The claimed effect is beyond this many points in `direction`; negative: a non-inferiority claim (the
    # treatment is no worse than the control by more than |min_effect|), whose contradiction is being worse.
    min_effect: float = 0.0
    margin: float | None = None  # the effect-size equivalence margin; None: the table's
    gate: bool = True  # false: reported, never fails CI (a paper's claim tested outside its regime: toy scale)
    # A claim over cells instead of pairs: each listed cell matches its reference within the table's margin
    # (its cell verdict; "the released checkpoints are within the recorded accuracy"). Then `pairs` is empty.
    cells: tuple[str, ...] = ()



def claims(c: Checker, raw: Any, table) -> list[Claim]:
    """The `claims:` list of a table file."""
    out, seen = [], set()
    for i, item in enumerate(c.get({"claims": raw}, "claims", "", list)):
        path = f"claims[{i}]"
        d = c.mapping(item, path)
        c.only(d, path, ("id", "text", "source", "direction", "pairs", "cells", "min_effect", "margin", "gate"))
        cid = c.ident(c.get(d, "id", path, str), f"{path}.id")
        if cid in seen:
            raise c.fail(f"{path}.id", f"claim id {cid!r} is used twice")
        seen.add(cid)
        if "cells" in d:
            if "pairs" in d or "direction" in d:
                raise c.fail(path, "a claim has either `cells` (each within its reference) or `pairs` and "
                                   "`direction`, not both")
            cells = c.get(d, "cells", path, list)
            if not cells:
                raise c.fail(f"{path}.cells", "expected a non-empty list of entries")
            out.append(Claim(cid, table.id, c.get(d, "text", path, str), c.get(d, "source", path, str), "within",
                             (), 0.0, None, c.get(d, "gate", path, bool, True),
                             tuple(c.ident(e, f"{path}.cells[{k}]") for k, e in enumerate(cells))))
            continue
        direction = c.choice(d, "direction", path, ("higher", "lower"), "direction")
        pairs = c.get(d, "pairs", path, list)
        if not pairs:
            raise c.fail(f"{path}.pairs", "expected a non-empty list of [treatment, control] entry pairs")
        checked = []
        for j, pair in enumerate(pairs):
            pp = f"{path}.pairs[{j}]"
            if not isinstance(pair, list) or len(pair) != 2:
                raise c.fail(pp, "expected [treatment, control]: two entries, or two effects [entry, entry]")
            a, b = (_side(c, e, f"{pp}[{k}]") for k, e in enumerate(pair))
            if len(a) != len(b):
                raise c.fail(pp, "compare an entry with an entry, or an effect [entry, entry] with an effect")
            if a == b or (len(a) == 2 and a[0] == a[1]):
                raise c.fail(pp, "the two sides are the same entry")
            checked.append((a, b))
        out.append(Claim(cid, table.id, c.get(d, "text", path, str), c.get(d, "source", path, str), direction,
                         tuple(checked), c.number(d, "min_effect", path, -1e6, 1e6, 0.0),
                         c.number(d, "margin", path, 1e-9, 1e6, None), c.get(d, "gate", path, bool, True)))
    return out


def _side(c: Checker, raw: Any, path: str) -> Side:
    if isinstance(raw, list):
        if len(raw) != 2:
            raise c.fail(path, "an effect is [entry, entry]: the per-seed difference first minus second")
        return tuple(c.ident(e, path) for e in raw)
    return (c.ident(raw, path),)


def figures(c: Checker, raw: Any, table) -> list[dict[str, Any]]:
    """Effect charts (SAM's Figure 1, left): per row, treatment columns against a control column."""
    out = []
    for i, item in enumerate(c.get({"figures": raw}, "figures", "", list)):
        path = f"figures[{i}]"
        d = c.mapping(item, path)
        c.only(d, path, ("title", "control", "treatments"))
        control = c.get(d, "control", path, str)
        treatments = c.get(d, "treatments", path, list)
        for col in [control, *treatments]:
            if col not in table.columns:
                raise c.fail(path, f"unknown column {col!r}; {choices(str(col), table.columns)}")
        out.append({"title": c.get(d, "title", path, str), "control": control, "treatments": list(treatments)})
    return out


def costs(c: Checker, raw: Any, table) -> dict[str, Any]:
    d = c.mapping(raw, "costs")
    c.only(d, "costs", ("row", "unit", "values"))
    row, unit = c.get(d, "row", "costs", str), c.get(d, "unit", "costs", str)
    values = c.mapping(c.get(d, "values", "costs", dict), "costs.values")
    out = {}
    for column, v in values.items():
        vp = f"costs.values.{column}"
        if column not in table.columns:
            raise c.fail(vp, f"unknown column {column!r}; {choices(column, table.columns)}")
        v = c.mapping(v, vp)
        c.only(v, vp, ("id", "printed", "value", "source"))
        out[column] = {"id": c.ident(c.get(v, "id", vp, str), f"{vp}.id"), "printed": c.get(v, "printed", vp, str),
                       "value": c.number(v, "value", vp, 0.0, 1e12), "source": c.get(v, "source", vp, str)}
    return {"row": row, "unit": unit, "values": out}
