"""FGVC-Aircraft and Birdsnap builders on tiny fakes in the official layouts (offline, a few seconds).

Each fake is written the way the official archive (plus, for Birdsnap,
get_birdsnap.py) leaves it under the manual dir; the real builders prepare it
as array_record and `tfds.data_source` reads it back.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import bench.data  # noqa: F401  (registers the builders)
from bench.data.aircraft import VARIANTS

W, H = 48, 64


def _jpeg(path: Path, seed: int, width: int = W, height: int = H) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG")


def _prepare(name: str, data_dir: Path, manual_dir: Path) -> None:
    builder = tfds.builder(name, data_dir=str(data_dir), file_format="array_record")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))


def _read(name: str, split: str, data_dir: Path) -> list[dict]:
    source = tfds.data_source(name, split=split, data_dir=str(data_dir))
    return [source[i] for i in range(len(source))]


# --- FGVC-Aircraft ---------------------------------------------------------------------------

AIRCRAFT_SPLITS = {  # image id -> variant, per official list file
    "train": {"0034309": "707-320", "0034958": "F/A-18"},
    "val": {"1025794": "BAE 146-200"},
    "test": {"2074164": "MD-90", "0056978": "Cessna 172"},
}


def _fake_aircraft(manual_dir: Path) -> None:
    data = manual_dir / "fgvc-aircraft-2013b" / "data"
    data.mkdir(parents=True)
    (data / "variants.txt").write_text("".join(f"{v}\n" for v in VARIANTS))
    trainval = {**AIRCRAFT_SPLITS["train"], **AIRCRAFT_SPLITS["val"]}
    for split, rows in {**AIRCRAFT_SPLITS, "trainval": trainval}.items():
        (data / f"images_variant_{split}.txt").write_text("".join(f"{i} {v}\n" for i, v in rows.items()))
    for seed, image_id in enumerate(sorted({**trainval, **AIRCRAFT_SPLITS["test"]})):
        _jpeg(data / "images" / f"{image_id}.jpg", seed)


def test_aircraft_official_layout(tmp_path):
    _fake_aircraft(tmp_path / "manual")
    _prepare("fgvc_aircraft", tmp_path / "tfds", tmp_path / "manual")

    builder = tfds.builder("fgvc_aircraft", data_dir=str(tmp_path / "tfds"))
    assert builder.info.features["label"].num_classes == 100
    assert set(builder.info.splits) == {"trainval", "test", "train", "val"}
    names = builder.info.features["label"].names
    expected = {**AIRCRAFT_SPLITS, "trainval": {**AIRCRAFT_SPLITS["train"], **AIRCRAFT_SPLITS["val"]}}
    for split, rows in expected.items():
        records = _read("fgvc_aircraft", split, tmp_path / "tfds")
        assert len(records) == len(rows)
        got = {r["file_name"].decode(): names[int(r["label"])] for r in records}
        assert got == {f"{i}.jpg": v for i, v in rows.items()}
        for r in records:
            assert np.asarray(r["image"]).shape == (H - 20, W, 3)  # bottom 20 px banner cropped


def test_aircraft_unknown_variant_list_is_refused(tmp_path):
    _fake_aircraft(tmp_path / "manual")
    variants = tmp_path / "manual" / "fgvc-aircraft-2013b" / "data" / "variants.txt"
    variants.write_text("".join(f"{v}\n" for v in VARIANTS[:-1]) + "Concorde\n")
    with pytest.raises(ValueError, match="Concorde"):
        _prepare("fgvc_aircraft", tmp_path / "tfds", tmp_path / "manual")


# --- Birdsnap --------------------------------------------------------------------------------

SPECIES = [(i, f"Bird {i}", f"Avis {i}", f"Bird_{i}") for i in range(1, 501)]
# path -> species id; the last train row is listed in images.txt but never downloaded
BIRD_TRAIN = {"Bird_1/0001.jpg": 1, "Bird_1/0002.jpg": 1, "Bird_7/0003.jpg": 7, "Bird_500/0004.jpg": 500}
BIRD_TEST = {"Bird_7/0005.jpg": 7, "Bird_500/0006.jpg": 500}
BIRD_MISSING = "Bird_7/0007.jpg"
PARTS = ["back", "beak", "belly", "breast", "crown", "forehead", "left_cheek", "left_eye", "left_leg",
         "left_wing", "nape", "right_cheek", "right_eye", "right_leg", "right_wing", "tail", "throat"]


def _fake_birdsnap(manual_dir: Path) -> None:
    root = manual_dir / "birdsnap"
    root.mkdir(parents=True)
    (root / "species.txt").write_text(
        "id\tcommon\tscientific\tdir\n" + "".join(f"{i}\t{c}\t{s}\t{d}\n" for i, c, s, d in SPECIES))
    header = ["url", "md5", "path", "species_id", "bb_x1", "bb_y1", "bb_x2", "bb_y2"]
    header += [f"{p}_{xy}" for p in PARTS for xy in "xy"]
    rows = {**BIRD_TRAIN, BIRD_MISSING: 7, **BIRD_TEST}
    lines = ["\t".join(header)]
    for n, (path, sid) in enumerate(rows.items()):
        values = [f"http://farm.example/{n}.jpg", "0" * 32, path, str(sid), "1", "2", "30", "40"]
        lines.append("\t".join(values + ["null"] * (2 * len(PARTS))))
    (root / "images.txt").write_text("\n".join(lines) + "\n")
    (root / "test_images.txt").write_text("path\n" + "".join(f"{p}\n" for p in BIRD_TEST))
    for seed, path in enumerate([*BIRD_TRAIN, *BIRD_TEST]):
        _jpeg(root / "download" / "images" / path, seed, width=40 + seed, height=30)


def test_birdsnap_official_layout_skips_missing_images(tmp_path, caplog):
    _fake_birdsnap(tmp_path / "manual")
    with caplog.at_level(logging.WARNING, logger="bench.data.birdsnap"):
        _prepare("birdsnap", tmp_path / "tfds", tmp_path / "manual")
    assert "train: 1 of 5 listed images missing" in caplog.text

    builder = tfds.builder("birdsnap", data_dir=str(tmp_path / "tfds"))
    assert builder.info.features["label"].num_classes == 500
    names = builder.info.features["label"].names
    assert names[0] == "Bird 1" and names[499] == "Bird 500"
    assert builder.info.metadata["missing_images"] == {"train": 1, "test": 0}
    assert builder.info.metadata["listed_images"] == {"train": 5, "test": 2}
    for split, rows in {"train": BIRD_TRAIN, "test": BIRD_TEST}.items():
        records = _read("birdsnap", split, tmp_path / "tfds")
        got = {r["file_name"].decode(): int(r["label"]) for r in records}
        assert got == {p: sid - 1 for p, sid in rows.items()}
        assert all(np.asarray(r["image"]).shape[0] == 30 for r in records)


# --- missing manual data ---------------------------------------------------------------------

@pytest.mark.parametrize("name, archive, expected_path", [
    ("fgvc_aircraft", "fgvc-aircraft-2013b.tar.gz", "fgvc-aircraft-2013b/data/variants.txt"),
    ("birdsnap", "birdsnap.tgz", "birdsnap/species.txt"),
])
@pytest.mark.parametrize("state", ["absent", "other_files"])
def test_missing_manual_data_names_file_and_dir(tmp_path, name, archive, expected_path, state):
    manual = tmp_path / "manual"
    if state == "other_files":  # a manual dir that exists but lacks this dataset
        manual.mkdir()
        (manual / "unrelated.txt").write_text("x")
    with pytest.raises((AssertionError, FileNotFoundError)) as err:
        _prepare(name, tmp_path / "tfds", manual)
    message = str(err.value)
    assert archive in message and str(manual) in message
    if state == "other_files":
        assert str(manual / expected_path) in message
