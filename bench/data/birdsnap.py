"""Birdsnap v1.1 (500 North American bird species) as a TFDS dataset, read from a manual download.

Birdsnap ships only lists of Flickr URLs plus a download script, so TFDS cannot
fetch it; the user runs the official script and this builder reads the result
in place under TFDS's manual_dir.

Official layout, as confirmed from the archive's readme.txt (copy read in
github.com/jonathantcallahan/birdboy, birdsnap_content/readme.txt, with its
test_images.txt) and its get_birdsnap.py (same text found in the code index):

    birdsnap/species.txt      tab-separated, header; fields id (1..500), common, scientific, dir
    birdsnap/images.txt       tab-separated, header; fields url, md5, path, species_id,
                              bb_x1, bb_y1, bb_x2, bb_y2, then <part>_x, <part>_y for 17 parts
    birdsnap/test_images.txt  header "path", then one images.txt path per line (2,443 images)
    birdsnap/get_birdsnap.py  downloads each image to <output_dir>/images/<path>, default
                              output_dir "download", keeping only files whose md5 matches;
                              <path> is "<species dir>/<number>.jpg"

Splits: `test` = the paths in test_images.txt, `train` = every other image in
images.txt (the paper's species-identification protocol). Label = species_id - 1,
named by the species' common name.

Missing images: many Flickr URLs are dead, so images listed but absent from
download/images/ are skipped. The counts are logged and stored in the dataset's
metadata (`builder.info.metadata["missing_images"]`, per split, next to
`listed_images`), so a report can state how much of each split was used.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import tensorflow_datasets as tfds

log = logging.getLogger(__name__)

ARCHIVE = "birdsnap.tgz"
ARCHIVE_URL = "https://thomasberg.org/datasets/birdsnap/1.1/birdsnap.tgz"
ROOT = "birdsnap"
IMAGES = Path("download") / "images"
NUM_CLASSES = 500

_INSTRUCTIONS = f"""\
Download {ARCHIVE} (Birdsnap v1.1 metadata and download script) from
{ARCHIVE_URL} and extract it inside the manual dir, then fetch the images with
the official script (Python 2: it uses print statements; needs `requests`):

    tar xzf {ARCHIVE} -C <manual_dir>
    cd <manual_dir>/{ROOT} && python2 get_birdsnap.py

so that <manual_dir>/{ROOT}/species.txt, <manual_dir>/{ROOT}/images.txt,
<manual_dir>/{ROOT}/test_images.txt and the images
<manual_dir>/{ROOT}/{IMAGES}/<species dir>/<file>.jpg exist. Images the script
could not download (dead Flickr URLs) are skipped and counted. The manual dir is
the one given in DownloadConfig(manual_dir=...), by default
<data_dir>/downloads/manual/.
"""


def _read_tsv(path: Path) -> list[dict[str, str]]:
    """A tab-separated file with a header line, as get_birdsnap.py's read_list_of_dicts reads it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    fields = lines[0].strip().split("\t")
    rows = []
    for line in lines[1:]:
        if line.strip():
            values = line.strip().split("\t")
            if len(values) != len(fields):
                raise ValueError(f"Birdsnap: {path}: {len(values)} fields, header has {len(fields)}: {line!r}")
            rows.append(dict(zip(fields, values)))
    return rows


def _rgb_jpeg(path: Path) -> bytes:
    """The file's bytes when it is an RGB JPEG already; otherwise converted (grey, CMYK, PNG) to one."""
    from PIL import Image

    raw = path.read_bytes()
    with Image.open(io.BytesIO(raw)) as im:
        if im.format == "JPEG" and im.mode == "RGB":
            return raw
        out = io.BytesIO()
        im.convert("RGB").save(out, format="JPEG", quality=95)
    return out.getvalue()


class Birdsnap(tfds.core.GeneratorBasedBuilder):
    """Birdsnap v1.1, 500 species; official test list, the rest is train; missing images skipped."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: official test_images.txt split, missing images skipped."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=(
                "Birdsnap v1.1 (Berg et al., CVPR 2014): 49,829 listed Flickr images of 500 species; "
                "test = test_images.txt (2,443), train = the rest. Images missing from the user's download "
                "are skipped; per-split counts are in info.metadata['missing_images']."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                    # names come from species.txt at prepare time, then live in label.labels.txt
                    "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
                    "file_name": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="http://thomasberg.org/",
            citation="Berg et al., Birdsnap: Large-scale Fine-grained Visual Categorization of Birds, CVPR 2014.",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = Path(dl_manager.manual_dir)  # TFDS raises with the instructions if absent or empty
        root = manual_dir / ROOT
        for required in ("species.txt", "images.txt", "test_images.txt", str(IMAGES)):
            if not (root / required).exists():
                raise FileNotFoundError(
                    f"Birdsnap: {root / required} not found under manual dir {manual_dir}. "
                    f"Instructions:\n{_INSTRUCTIONS}"
                )
        species = _read_tsv(root / "species.txt")
        ids = sorted(int(s["id"]) for s in species)
        if ids != list(range(1, NUM_CLASSES + 1)):
            raise ValueError(f"Birdsnap: {root / 'species.txt'} must list species ids 1..{NUM_CLASSES}")
        names = {int(s["id"]): s["common"] for s in species}
        self.info.features["label"].names = [names[i] for i in ids]

        images = _read_tsv(root / "images.txt")
        test_paths = {r["path"] for r in _read_tsv(root / "test_images.txt")}
        unknown_test = test_paths - {r["path"] for r in images}
        if unknown_test:
            log.warning("Birdsnap: %d paths of test_images.txt are not in images.txt", len(unknown_test))
        splits = {"train": [], "test": []}
        for row in images:
            splits["test" if row["path"] in test_paths else "train"].append(row)

        missing, listed, present = {}, {}, {}
        for split, rows in splits.items():
            present[split] = [r for r in rows if (root / IMAGES / r["path"]).is_file()]
            listed[split], missing[split] = len(rows), len(rows) - len(present[split])
            level = logging.WARNING if missing[split] else logging.INFO
            log.log(level, "Birdsnap %s: %d of %d listed images missing under %s, skipped",
                    split, missing[split], listed[split], root / IMAGES)
        self.info.metadata["missing_images"] = missing
        self.info.metadata["listed_images"] = listed
        return {split: self._generate_examples(root / IMAGES, rows) for split, rows in present.items()}

    def _generate_examples(self, image_dir: Path, rows: list[dict[str, str]]):
        for row in rows:
            yield row["path"], {
                "image": _rgb_jpeg(image_dir / row["path"]),
                "label": int(row["species_id"]) - 1,
                "file_name": row["path"],
            }
