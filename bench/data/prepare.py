"""`bench prepare`: build every dataset a suite needs with TFDS, as array_record."""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError
from bench.experiments import Table


def prepare(tables: dict[str, Table], data_dir: str | Path) -> list[str]:
    import tensorflow_datasets as tfds

    import bench.data  # noqa: F401  (registers this project's builders)

    names = sorted({e.dataset["name"] for t in tables.values() for e in t.entries.values() if not e.unavailable})
    for name in names:
        builder = tfds.builder(name, data_dir=str(data_dir), file_format="array_record")
        try:
            builder.download_and_prepare()
        except Exception as exc:  # download failures, manual data missing: say which dataset
            raise BenchError(f"cannot prepare dataset {name!r} in {data_dir}: {exc}") from None
        print(f"prepared {name} {builder.version} in {data_dir}")
    return names
