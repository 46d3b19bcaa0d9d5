"""The optional parts of a table file: `claims:`, `figures:` and `costs:` (schema: experiments/README.md).

Each parser takes the table being built (bench.experiments.Table: its id, rows
and columns) and raises TableError through the Checker, naming file and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.errors import choices
from bench.schema import Checker


@dataclass(frozen=True)
class Claim:
    """A paper's claim over (treatment, control) entry pairs, tested on paired seeds (bench.stats)."""

    id: str
    table: str
    text: str
    source: str
    direction: str  # the treatment's metric is "higher" or "lower" than the control's
    pairs: tuple[tuple[str, str], ...]  # (treatment entry, control entry)
    # The claimed effect is beyond this many points in `direction`; negative: a non-inferiority claim (the
    # treatment is no worse than the control by more than |min_effect|), whose contradiction is being worse.
    min_effect: float = 0.0
    margin: float | None = None  # the effect-size equivalence margin; None: the table's
    gate: bool = True  # false: reported, never fails CI (a paper's claim tested outside its regime: toy scale)



def claims(c: Checker, raw: Any, table) -> list[Claim]:
    """The `claims:` list of a table file."""
    out, seen = [], set()
    for i, item in enumerate(c.get({"claims": raw}, "claims", "", list)):
        path = f"claims[{i}]"
        d = c.mapping(item, path)
        c.only(d, path, ("id", "text", "source", "direction", "pairs", "min_effect", "margin", "gate"))
        cid = c.ident(c.get(d, "id", path, str), f"{path}.id")
        if cid in seen:
            raise c.fail(f"{path}.id", f"claim id {cid!r} is used twice")
        seen.add(cid)
        direction = c.choice(d, "direction", path, ("higher", "lower"), "direction")
        pairs = c.get(d, "pairs", path, list)
        if not pairs:
            raise c.fail(f"{path}.pairs", "expected a non-empty list of [treatment, control] entry pairs")
        checked = []
        for j, pair in enumerate(pairs):
            pp = f"{path}.pairs[{j}]"
            if not isinstance(pair, list) or len(pair) != 2:
                raise c.fail(pp, "expected [treatment entry, control entry]")
            a, b = (c.ident(e, pp) for e in pair)
            if a == b:
                raise c.fail(pp, "treatment and control are the same entry")
            checked.append((a, b))
        out.append(Claim(cid, table.id, c.get(d, "text", path, str), c.get(d, "source", path, str), direction,
                         tuple(checked), c.number(d, "min_effect", path, -1e6, 1e6, 0.0),
                         c.number(d, "margin", path, 1e-9, 1e6, None), c.get(d, "gate", path, bool, True)))
    return out


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
