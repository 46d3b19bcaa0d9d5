"""What every claim has (its id, words, source, gate), the registry of claim kinds and the reader of a
table's `claims:` list. The kinds are the other modules of this package."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bench.tables.schema import Checker, Kinds, spec

CLAIMS = Kinds("claim")
Side = tuple[str, ...]  # (entry,) or (minuend, subtrahend): the per-seed difference of two entries


def side_label(side: Side) -> str:
    """"a" for one entry, "(a - b)" for an effect."""
    return side[0] if len(side) == 1 else f"({side[0]} - {side[1]})"


@dataclass(frozen=True, kw_only=True)
class Claim:
    """What every claim says: an id, the paper's words and where they are, whether it gates CI."""

    MARKER: ClassVar[str] = ""
    PARTIAL: ClassVar[str] = ""
    NOTE: ClassVar[str] = ""
    KIND: ClassVar[str] = ""

    id: str = spec("claim id, unique in the table", check=lambda c, v, p: c.ident(v, p))
    text: str = spec("the claim in the paper's words")
    source: str = spec("where the paper makes it")
    gate: bool = spec("false: reported, never fails CI (a paper's claim tested outside its regime, such as "
                      "the embedded tables' toy scale)", True)

    def entries(self) -> list[tuple[str, str]]:
        """(its field, entry id) for every entry it reads: `pairs[0]`, `cells[2]`."""
        raise NotImplementedError

    def needs_published(self) -> str:
        """Why each entry it reads needs a published value (the message when one has none)."""
        return "a claim compares published values, so each of its entries needs one"

    def base(self, table) -> dict[str, Any]:
        """The columns every row of this claim repeats."""
        return {"claim": self.id, "kind": self.KIND, "table": table.id, "text": self.text, "source": self.source,
                "gate": self.gate, "metric": table.metric}

    def judge(self, ctx) -> list[dict[str, Any]]:
        raise NotImplementedError


def read_claims(c: Checker, raw: Any, path: str) -> tuple[Claim, ...]:
    """A table's `claims:` list: each of the kind its marker key names; ids unique."""
    out = CLAIMS.many(c, raw, path)
    seen: set[str] = set()
    for i, claim in enumerate(out):
        if claim.id in seen:
            raise c.fail(f"{path}[{i}].id", f"claim id {claim.id!r} is used twice")
        seen.add(claim.id)
    return out


read_claims.rows = lambda prefix: CLAIMS.rows(prefix[:-1] + "[].")
