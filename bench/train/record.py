"""`bench record-reference`: record an embedded table's reference values from real runs.

Trains every entry of the given tables (or only `--entry` ones) with the given
seeds, in one process, exactly as the pipeline would: an entry that selects a
value (SAM's rho, the lr) first runs its selection on held-out data, then
trains every seed with the chosen value. Each entry's mean and sample std go
into its `published:` line (added when the entry had none: an exploratory
entry becomes a referenced one), with the recording's date, commit and seeds
in that line's `source`; a whole-table recording also updates the table's
`source:` block. Use seeds that `dvc repro` does not use (the default
100-104), so that the pipeline's runs are independent draws compared with this
reference.
"""

from __future__ import annotations

import re
import statistics
import sys
from datetime import date
from pathlib import Path

from bench import provenance
from bench.errors import BenchError
from bench.tables.table import Entry, Table
from bench.io import write_text


def record(tables: dict[str, Table], seeds: list[int], data_dir: str, entries: list[str] | None = None) -> None:
    from bench.train.loop import RunConfig, train
    from bench.train.select import select_value

    known = {eid for t in tables.values() for eid in t.entries}
    unknown = sorted(set(entries or ()) - known)
    if unknown:
        raise BenchError(f"--entry {unknown[0]!r} is not an entry of the selected suite's tables; "
                         f"valid: {', '.join(sorted(known))}")
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise BenchError(f"--seeds {seeds}: a reference needs at least two distinct seeds (its std)")
    for table in tables.values():
        chosen = [e for e in table.entries.values() if not entries or e.id in entries]
        if not chosen:
            continue
        if table.source.KIND != "recorded":
            raise BenchError(f"{table.path}: source.kind is {table.source.KIND!r}; only 'recorded' "
                             "tables take recorded references")
        commit = provenance.git_commit(table.path)
        if commit.endswith("+dirty"):
            raise BenchError(f"commit your changes first (code or {table.path}): a recorded reference names "
                             "the commit it was run at")
        text = Path(table.path).read_text(encoding="utf-8")
        for entry in chosen:
            if not entry.runs:
                raise BenchError(f"{table.path}: {entry.id} does not run (derived or unavailable): nothing to record")
            plan = entry.plan()
            if plan.recipe.select is not None:
                chosen_value = select_value(plan, data_dir)
                plan = plan.with_selection(chosen_value["param"], chosen_value["value"])
            values = []
            for seed in seeds:
                metrics, _ = train(plan, seed, data_dir, RunConfig(progress=False))
                values.append(metrics[table.metric])
                print(f"{entry.id} seed {seed}: {table.metric} {values[-1]:.2f}", flush=True)
            mean, std = statistics.fmean(values), statistics.stdev(values)
            where = (f"recorded reference: bench record-reference, seeds {seeds[0]}-{seeds[-1]}, commit "
                     f"{commit[:12]}, {date.today().isoformat()}") if entries else "recorded reference, see source"
            text = _set_published(text, entry, mean, std, where, table.path)
        if not entries:  # the whole table: its source block describes this recording
            packages = ", ".join(f"{k} {v}" for k, v in provenance.package_versions().items())
            fields = {"recorded_on": date.today().isoformat(), "commit": commit,
                      "command": "bench " + " ".join(sys.argv[1:]) if sys.argv[1:] else "bench record-reference",
                      "machine": provenance.machine(), "packages": packages}
            for key, value in fields.items():
                text, n = re.subn(rf'^(  {key}: ).*$', lambda m, v=value: m.group(1) + f'"{v}"', text, count=1,
                                  flags=re.M)
                if n != 1:
                    raise BenchError(f"{table.path}: source.{key} line not found")
        write_text(table.path, text)
        print(f"wrote the reference of {len(chosen)} entries into {table.path}")


def _set_published(text: str, entry: Entry, mean: float, std: float, source: str, path: str) -> str:
    """Replace the entry's `published:` line, or add one at the end of its block."""
    start = re.search(rf"^  {re.escape(entry.id)}:.*$", text, flags=re.M)
    if not start:
        raise BenchError(f"{path}: entry {entry.id} not found as a block ('  {entry.id}:' at the start of a line)")
    following = re.search(r"^  \S|^\S", text[start.end() + 1:], flags=re.M)
    end = start.end() + 1 + following.start() if following else len(text)
    field = re.compile(r"^( +)\S", flags=re.M).search(text, start.end(), end)
    indent = field.group(1) if field else "    "
    new = f'{indent}published: {{value: {mean:.2f}, dispersion: {std:.2f}, source: "{source}"}}\n'
    found = re.compile(rf"^{indent}published: .*\n", flags=re.M).search(text, start.end(), end)
    if found:
        return text[:found.start()] + new + text[found.end():]
    if entry.published is not None:
        raise BenchError(f"{path}: entries.{entry.id}.published must be one line 'published: {{value: ..., ...}}'")
    body = text[:end].rstrip("\n") + "\n"
    return body + new + text[end:]
