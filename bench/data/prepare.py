"""`bench prepare`: build every dataset a suite needs with TFDS, as array_record.

A dataset that cannot be built here (manual download missing, download
failure, corrupt archive, no network) does not stop the pipeline: it is
recorded in data/manifest.json as unavailable with the reason and what to do,
its cells become UNAVAILABLE, and the rest goes on.

Without network (one bounded probe, a few seconds, or `--offline`), datasets
that would need a download are recorded unavailable at once instead of
retrying for minutes; the datasets that ship with the packages (the digits)
are built as usual. Manual downloads, for every dataset, go to one place:
data/manual/<dataset>/ (the TFDS manual_dir); after placing them, run
`dvc repro --force prepare` and `dvc repro`.
"""

from __future__ import annotations

import contextlib
import io
import socket
import sys
from pathlib import Path
from typing import Any, Callable



def _manual_hint(builder, manual_dir: Path) -> str | None:
    """Why a manual-download builder cannot run yet, or None when its manual_dir has files."""
    instructions = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
    if not instructions:
        return None
    if manual_dir.is_dir() and any(manual_dir.iterdir()):
        return None
    text = " ".join(str(instructions).split())
    return f"needs a manual download into {manual_dir}/ (TFDS manual_dir): {text}"


# One bounded probe of the network: the host TFDS downloads most datasets from.
PROBE = ("storage.googleapis.com", 443)


def network(timeout: float = 3.0) -> str | None:
    """None when the download host answers within `timeout` seconds, else why not (one line)."""
    try:
        with socket.create_connection(PROBE, timeout=timeout):
            return None
    except OSError as exc:
        return f"{PROBE[0]}:{PROBE[1]} unreachable ({exc.strerror or type(exc).__name__})"


def prepare_one(name: str, data_dir: Path, manual_root: Path,
                offline: Callable[[], str | None] = lambda: None) -> dict[str, Any]:
    """Build one dataset; returns its manifest record (status ok or unavailable, never raises).
    `offline()`: why there is no network, or None; asked only when a download would be needed."""
    import tensorflow_datasets as tfds
    import torchvision  # noqa: F401  (before TensorFlow, which builders import: the other order segfaults)

    from bench.data.builders import LOCAL, register

    register()

    base = name.split(":")[0].split("/")[0]
    manual_dir = manual_root / base
    retry = " Then run `dvc repro --force prepare` and `dvc repro`."
    try:
        builder = tfds.builder(name, data_dir=str(data_dir), file_format="array_record")
    except Exception as exc:
        return {"status": "unavailable", "reason": f"no TFDS builder {name!r}: {exc}"}
    if not builder.is_prepared():
        hint = _manual_hint(builder, manual_dir)
        if hint:
            return {"status": "unavailable", "reason": hint + retry}
        local = base in LOCAL
        why = None if local else offline()
        if why:
            return {"status": "unavailable",
                    "reason": f"needs a download and there is no network ({why}): with network, or after placing "
                              f"the source files in {manual_dir}/ (TFDS manual_dir), run `dvc repro --force prepare` "
                              "and `dvc repro`."}
        try:
            quiet = contextlib.redirect_stdout(io.StringIO()) if local else contextlib.nullcontext()
            with quiet:  # TFDS's "Downloading and preparing dataset Unknown size" is false for local data
                builder.download_and_prepare(
                    download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
        except Exception as exc:  # download failure, dead URL, corrupt archive: record it, go on
            first = " ".join(str(exc).split())[:600]
            return {"status": "unavailable",
                    "reason": f"could not build {name}: {type(exc).__name__}: {first}. If the download source is "
                              f"gone, place the source files in {manual_dir}/ (TFDS manual_dir).{retry}"}
    info = builder.info
    return {"status": "ok", "version": str(builder.version),
            "splits": {k: int(v.num_examples) for k, v in sorted(info.splits.items())},
            "num_bytes": int(sum(v.num_bytes for v in info.splits.values()))}


def prepare(names: list[str], data_dir: str | Path, manual_root: str | Path,
            offline: bool = False) -> dict[str, dict]:
    """Build the named TFDS datasets. The network is probed once, and only when a dataset that is not built
    yet may need a download; `offline` skips the probe (no downloads at all)."""
    probed: list[str | None] = []

    def offline_reason() -> str | None:
        if not probed:
            probed.append("--offline given" if offline else network())
            if probed[0]:
                print(f"no network ({probed[0]}): datasets that need a download are recorded unavailable; "
                      f"files placed by hand go to {manual_root}/<dataset>/", file=sys.stderr)
        return probed[0]

    manifest = {}
    for name in sorted(set(names)):
        record = prepare_one(name, Path(data_dir), Path(manual_root), offline_reason)
        manifest[name] = record
        if record["status"] == "ok":
            print(f"prepared {name} {record['version']} in {data_dir}: "
                  + ", ".join(f"{k} {v}" for k, v in record["splits"].items()))
        else:
            print(f"UNAVAILABLE {name}: {record['reason']}", file=sys.stderr)
    return manifest
