"""`bench prepare`: build every dataset a suite needs with TFDS, as array_record.

A dataset that cannot be built here (manual download missing, download
failure, corrupt archive) does not stop the pipeline: it is recorded in
data/manifest.json as unavailable with the reason and what to do, its cells
become UNAVAILABLE, and the rest goes on. Manual downloads go to
data/manual/<dataset>/ (the TFDS manual_dir); after placing them, run
`dvc repro --force prepare` (or `bench prepare`) and `dvc repro`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.experiments import Table


def datasets_of(tables: dict[str, Table]) -> list[str]:
    names = set()
    for t in tables.values():
        for e in t.entries.values():
            if e.runs:
                names.update(e.dataset.names)
    return sorted(names)


def _manual_hint(builder, manual_dir: Path) -> str | None:
    """Why a manual-download builder cannot run yet, or None when its manual_dir has files."""
    instructions = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
    if not instructions:
        return None
    if manual_dir.is_dir() and any(manual_dir.iterdir()):
        return None
    text = " ".join(str(instructions).split())
    return f"needs a manual download into {manual_dir}/ (TFDS manual_dir): {text}"


def prepare_one(name: str, data_dir: Path, manual_root: Path) -> dict[str, Any]:
    """Build one dataset; returns its manifest record (status ok or unavailable, never raises)."""
    import tensorflow_datasets as tfds
    import torchvision  # noqa: F401  (before TensorFlow, which builders import: the other order segfaults)

    from bench.data.builders import register

    register()

    manual_dir = manual_root / name.split(":")[0].split("/")[0]
    retry = " Then run `dvc repro --force prepare` and `dvc repro`."
    try:
        builder = tfds.builder(name, data_dir=str(data_dir), file_format="array_record")
    except Exception as exc:
        return {"status": "unavailable", "reason": f"no TFDS builder {name!r}: {exc}"}
    if not builder.is_prepared():
        hint = _manual_hint(builder, manual_dir)
        if hint:
            return {"status": "unavailable", "reason": hint + retry}
        try:
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
        except Exception as exc:  # download failure, dead URL, corrupt archive: record it, go on
            first = " ".join(str(exc).split())[:600]
            return {"status": "unavailable",
                    "reason": f"could not build {name}: {type(exc).__name__}: {first}. If the download source is "
                              f"gone, place the source files in {manual_dir}/ (TFDS manual_dir).{retry}"}
    info = builder.info
    return {"status": "ok", "version": str(builder.version),
            "splits": {k: int(v.num_examples) for k, v in sorted(info.splits.items())},
            "num_bytes": int(sum(v.num_bytes for v in info.splits.values()))}


def prepare(tables: dict[str, Table], data_dir: str | Path, manual_root: str | Path) -> dict[str, dict]:
    manifest = {}
    for name in datasets_of(tables):
        record = prepare_one(name, Path(data_dir), Path(manual_root))
        manifest[name] = record
        if record["status"] == "ok":
            print(f"prepared {name} {record['version']} in {data_dir}: "
                  + ", ".join(f"{k} {v}" for k, v in record["splits"].items()))
        else:
            print(f"UNAVAILABLE {name}: {record['reason']}", file=sys.stderr)
    return manifest
