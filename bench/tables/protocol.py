"""A table's protocol: every field that reaches a run, its value, and where that value comes from.

Table files carry a `sources:` mapping from a field path (`schedule.warmup_steps`,
`model_kwargs.proj_drop_rate`, `dataset.train_split`, `checkpoint`) to the source
of its value: one string for every entry, or one per value
(`{500: "...", 100: "..."}`), so that sources follow the values through YAML
anchors and merges. A source is one or more `;`-separated parts, each of one kind:

    paper: <paper> <section, table, row or column>
    code: <owner/repo> <path>@<commit>:<line>[-<line>] `<snippet>` (<what it shows>)
                                                 (the official code, at the commit read)
    choice: <why this harness chose it>          (the paper and the code are silent or differ)
    unverified: <what is assumed>                (a guess, shown as one)
    override: <why the checkpoint's own evaluation config is not used>

A code source carries a few words copied from the lines it cites (the
snippet, between backticks; whitespace runs count as one space), so the card
shows what the line says beside what it is cited for, and a wrong line shows
in review. tests/test_citations.py checks every snippet against the cited
lines, kept in tests/fixtures/cited_lines.json by tools/cited_lines.py.

`bench validate` fails on a runnable entry whose field has no source, and on a
source no entry uses; the report prints each table's protocol card from here.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from bench.tables.schema import to_json

KINDS = ("paper", "code", "choice", "unverified", "override")
PART_RE = re.compile(r";\s*(?=(?:" + "|".join(KINDS) + r"):)")
CODE_RE = re.compile(r"^code: (?P<repo>[\w.-]+/[\w.-]+) (?P<path>[^\s@`]+)@(?P<commit>[0-9a-f]{7,40})"
                     r":(?P<first>\d+)(?:-(?P<last>\d+))? `(?P<snippet>[^`]+)` \((?P<what>.+)\)$")
CODE_FORM = "code: owner/repo path@commit:line[-line] `words of the cited lines` (what they show)"
SNIPPET_MAX = 100  # characters: a few words, not the line
EXEMPT = ("eval_batch_size",)  # how much is evaluated at once changes no result
EVAL_ONLY = ("resolution", "preprocess.eval", "head")  # what an evaluation-only entry's result depends on


@dataclass(frozen=True)
class Citation:
    """A `code:` source part: lines first..last of repo's path at commit, and the words it quotes from them."""

    repo: str
    path: str
    commit: str
    first: int
    last: int
    snippet: str
    what: str

    @property
    def file(self) -> str:
        return f"{self.repo} {self.path}@{self.commit}"


def citation(part: str) -> Citation | None:
    """A code part's citation, or None if it is not one in the grammar's form."""
    m = CODE_RE.match(part.strip())
    if m is None:
        return None
    first = int(m["first"])
    return Citation(m["repo"], m["path"], m["commit"], first, int(m["last"] or first), m["snippet"], m["what"])


def words(text: str) -> str:
    """Text with every run of whitespace as one space (how a snippet is matched to its lines)."""
    return " ".join(text.split())


def parse_sources(c, raw: Any) -> dict[str, Any]:
    """`sources:`: field path -> source string, or -> {value: source string} (values as YAML scalars)."""
    out: dict[str, Any] = {}
    for path, found in c.mapping(raw, "sources").items():
        if isinstance(found, dict):
            out[path] = {}
            for value, text in found.items():
                if not isinstance(text, str):
                    raise c.fail(f"sources.{path}.{value}", f"expected a source string, got {type(text).__name__}")
                out[path][_value_key(c, path, value)] = text
        elif isinstance(found, str):
            out[path] = found
        else:
            raise c.fail(f"sources.{path}", "expected a source string or a mapping of value -> source")
    return out


def _value_key(c, path: str, value: Any) -> str:
    """A value-keyed source's key as the protocol prints values (pipelines in their canonical form)."""
    if not path.startswith("preprocess."):
        return show(value)
    from bench.pp.grammar import parse

    try:
        return str(parse(str(value)))
    except ValueError as exc:
        raise c.fail(f"sources.{path}", f"{str(value)[:60]!r}: {exc}") from None


def show(value: Any) -> str:
    """A value as the protocol card prints it and as a value-keyed source names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else key, out)
    else:
        out[prefix] = show(value)


def fields(entry) -> dict[str, str]:
    """Field path -> value, for an entry that runs: recipe, model, checkpoint, model kwargs, splits."""
    recipe: dict[str, str] = {}
    _flatten(to_json(entry.recipe), "", recipe)
    if entry.recipe.evaluation_only:
        recipe = {k: v for k, v in recipe.items() if k in EVAL_ONLY}
    out = {"model": entry.model, "checkpoint": show(entry.checkpoint and next(iter(entry.checkpoint.values())))}
    out.update({k: v for k, v in recipe.items() if k not in EXEMPT})
    out.update({f"model_kwargs.{k}": show(v) for k, v in entry.model_kwargs.items()})
    splits = ["test_split"] if entry.recipe.evaluation_only else ["train_split", "test_split"]
    if entry.recipe.select is not None:
        splits += ["sweep_train_split", "sweep_val_split"]
    out.update({f"dataset.{k}": show(getattr(entry.dataset, k)) for k in splits})
    if entry.dataset.label_noise:
        out["dataset.label_noise"] = show(entry.dataset.label_noise)
    return out


def entry_field_path(path: str) -> str:
    """Where a protocol field sits inside an entry (for error messages)."""
    head = path.split(".")[0]
    return path if head in ("model_kwargs", "dataset", "model", "checkpoint") else f"recipe.{path}"


def source_of(sources: dict[str, Any], path: str, value: str) -> str | None:
    found = sources.get(path)
    if isinstance(found, dict):
        return found.get(value)
    return found


def kind(source: str) -> str:
    return source.split(":", 1)[0].strip()


def parts(source: str) -> list[str]:
    """A source's parts: split at each `;` that a kind (`paper:`, `code:`...) follows."""
    return [p.strip() for p in PART_RE.split(source) if p.strip()]


def source_problem(source: str) -> str | None:
    """What is wrong with a source string, or None."""
    parts_ = parts(source)
    if not source.strip() or not parts_:
        return "empty source"
    for part in parts_:
        if kind(part) not in KINDS or ":" not in part or not part.split(":", 1)[1].strip():
            return (f"{part[:60]!r}: a source part starts with one of {', '.join(k + ':' for k in KINDS)} "
                    "and says what it cites")
        if kind(part) == "code":
            cited = citation(part)
            if cited is None:
                return f"{part[:80]!r}: cite code as '{CODE_FORM}'"
            if cited.last < cited.first:
                return f"{part[:80]!r}: the line range {cited.first}-{cited.last} runs backwards"
            if words(cited.snippet) != cited.snippet or len(cited.snippet) > SNIPPET_MAX:
                return (f"{part[:80]!r}: the snippet is a few words of the cited lines (at most {SNIPPET_MAX} "
                        "characters, single spaces, none at either end)")
    return None


def check(table) -> list[tuple[str, str]]:
    """(field, message) for every missing, malformed or unused source of a table."""
    problems = []
    used: dict[str, set[str]] = {}
    for e in table.entries.values():
        if not e.runs:
            continue
        for path, value in fields(e).items():
            used.setdefault(path, set()).add(value)
            if source_of(table.sources, path, value) is None:
                problems.append((f"entries.{e.id}.{entry_field_path(path)}",
                                 f"no source for {value!r}: add it to sources.{path} (paper section, "
                                 "official code file@commit:line, 'choice: why' or 'unverified: ...')"))
    for path, found in table.sources.items():
        if path not in used:
            close = difflib.get_close_matches(path, used, n=1)
            problems.append((f"sources.{path}", "no entry that runs has this field"
                             + (f" (did you mean '{close[0]}'?)" if close else "")))
            continue
        per_value = found if isinstance(found, dict) else {"": found}
        for value, text in per_value.items():
            if isinstance(found, dict) and value not in used[path]:
                problems.append((f"sources.{path}.{value}", f"no entry has the value {value!r}; values in use: "
                                 f"{', '.join(sorted(used[path]))}"))
            elif source_problem(text):
                problems.append((f"sources.{path}" + (f".{value}" if isinstance(found, dict) else ""),
                                 source_problem(text)))
    return problems


def card(table) -> list[dict[str, Any]]:
    """The protocol card: one row per field, one item per distinct value (its source and which cells use it)."""
    runs = [e for e in table.entries.values() if e.runs]
    if not runs:
        return []
    by_row = len({e.column for e in runs}) == 1
    by_column = len({e.row for e in runs}) == 1

    def label(e) -> str:
        return e.row if by_row else e.column if by_column else f"{e.row} / {e.column}"

    rows: dict[str, dict[str, list]] = {}
    for e in runs:
        for path, value in fields(e).items():
            rows.setdefault(path, {}).setdefault(value, []).append(label(e))
    out = []
    for path, values in rows.items():
        items = []
        for value, cells in values.items():
            source = source_of(table.sources, path, value) or ""
            cells = list(dict.fromkeys(cells))
            shown = ", ".join(cells[:6]) + (f" and {len(cells) - 6} more" if len(cells) > 6 else "")
            items.append({"value": value, "cells": "" if len(values) == 1 else shown, "source": source,
                          "parts": [(kind(p), p.split(":", 1)[1].strip()) for p in parts(source)]})
        out.append({"field": path, "values": items})
    return out
