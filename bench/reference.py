"""`bench record-reference`: record an embedded table's reference values from real runs.

Trains every entry of the given tables with the given seeds (in one process),
then writes each entry's mean and sample std into its `published:` line, and
the recording's date, commit, command, machine and packages into `source:`.
Use seeds that `dvc repro` does not use (the default 100-104), so that the
pipeline's runs are independent draws compared with this reference.
"""

from __future__ import annotations

import re
import statistics
import sys
from datetime import date
from pathlib import Path

from bench import provenance
from bench.errors import BenchError
from bench.experiments import Table
from bench.io import write_text
from bench.train.loop import RunConfig, train


def record(tables: dict[str, Table], seeds: list[int], data_dir: str) -> None:
    if provenance.git_commit().endswith("+dirty"):
        raise BenchError("commit your changes first: a recorded reference names the commit it was run at")
    for table in tables.values():
        if table.source.get("kind") != "recorded":
            raise BenchError(f"{table.path}: source.kind is {table.source.get('kind')!r}; only 'recorded' "
                             "tables take recorded references")
        text = Path(table.path).read_text(encoding="utf-8")
        for entry in table.entries.values():
            values = []
            for seed in seeds:
                metrics, _ = train(entry.plan(), seed, data_dir, RunConfig(progress=False))
                values.append(metrics[table.metric])
                print(f"{entry.id} seed {seed}: {table.metric} {values[-1]:.2f}", flush=True)
            mean, std = statistics.fmean(values), statistics.stdev(values)
            text = _set_published(text, entry.id, mean, std, table.path)
        packages = ", ".join(f"{k} {v}" for k, v in provenance.package_versions().items())
        fields = {"recorded_on": date.today().isoformat(), "commit": provenance.git_commit(),
                  "command": "bench " + " ".join(sys.argv[1:]) if sys.argv[1:] else "bench record-reference",
                  "machine": provenance.machine(), "packages": packages}
        for key, value in fields.items():
            text, n = re.subn(rf'^(  {key}: ).*$', lambda m: m.group(1) + f'"{value}"', text, count=1, flags=re.M)
            if n != 1:
                raise BenchError(f"{table.path}: source.{key} line not found")
        write_text(table.path, text)
        print(f"wrote the reference of {len(table.entries)} entries into {table.path}")


def _set_published(text: str, eid: str, mean: float, std: float, path: str) -> str:
    start = re.search(rf"^  {re.escape(eid)}:", text, flags=re.M)
    if not start:
        raise BenchError(f"{path}: entry {eid} not found as a block")
    pattern = re.compile(r"published: \{value: [^,]*, dispersion: [^,]*,")
    match = pattern.search(text, start.end())
    if not match:
        raise BenchError(f"{path}: entries.{eid}.published must read 'published: {{value: ..., dispersion: ..., ...}}'")
    new = f"published: {{value: {mean:.2f}, dispersion: {std:.2f},"
    return text[:match.start()] + new + text[match.end():]
