"""FGVC-Aircraft 2013b (variant level, 100 classes) as a TFDS dataset, read from a manual download.

TFDS has no FGVC-Aircraft builder and the archive sits behind no stable
checksummed URL, so the user extracts the official archive under TFDS's
manual_dir and this builder reads it in place.

Official layout, as confirmed from the README shipped in the archive (copy read
in github.com/glhr/ood-labelnoise, data/images_classic/fgvc-aircraft-2013b/README.md)
and from torchvision's reader (pytorch/vision, torchvision/datasets/fgvc_aircraft.py)::

    fgvc-aircraft-2013b/data/images/<7 digits>.jpg
    fgvc-aircraft-2013b/data/variants.txt                 one variant name per line
    fgvc-aircraft-2013b/data/images_variant_{train,val,trainval,test}.txt
                                                          "<image id> <variant name>"
                                                          (names contain spaces: split once)

Splits: `trainval` (6,667, what the paper protocol trains on), `test` (3,333),
and the official `train` / `val` halves of trainval.

The banner: the README says "Each image has at the bottom a banner 20 pixels
high containing copyright information. Please make sure to remove this banner".
This builder crops the bottom 20 rows of every image and re-encodes it as JPEG
(quality 95), so stored images are 20 px shorter than the files on disk.

Labels: the README's text still says 102 variants (the 2013a count); the 2013b
`variants.txt` lists 100. The ClassLabel names must be known before the data
are read, so the 100 names are fixed below (the list in
open-mmlab/mmpretrain, mmpretrain/datasets/categories.py, which is sorted like
`variants.txt`); preparing checks that the user's `variants.txt` holds exactly
these names and fails otherwise, so labels can never silently shift.
"""

from __future__ import annotations

import io
from pathlib import Path

import tensorflow_datasets as tfds

ARCHIVE = "fgvc-aircraft-2013b.tar.gz"
ROOT = "fgvc-aircraft-2013b"
BANNER_PX = 20
SPLITS = ("trainval", "test", "train", "val")

VARIANTS = (
    "707-320", "727-200", "737-200", "737-300", "737-400", "737-500", "737-600", "737-700", "737-800",
    "737-900", "747-100", "747-200", "747-300", "747-400", "757-200", "757-300", "767-200", "767-300",
    "767-400", "777-200", "777-300", "A300B4", "A310", "A318", "A319", "A320", "A321", "A330-200",
    "A330-300", "A340-200", "A340-300", "A340-500", "A340-600", "A380", "ATR-42", "ATR-72", "An-12",
    "BAE 146-200", "BAE 146-300", "BAE-125", "Beechcraft 1900", "Boeing 717", "C-130", "C-47", "CRJ-200",
    "CRJ-700", "CRJ-900", "Cessna 172", "Cessna 208", "Cessna 525", "Cessna 560", "Challenger 600",
    "DC-10", "DC-3", "DC-6", "DC-8", "DC-9-30", "DH-82", "DHC-1", "DHC-6", "DHC-8-100", "DHC-8-300",
    "DR-400", "Dornier 328", "E-170", "E-190", "E-195", "EMB-120", "ERJ 135", "ERJ 145",
    "Embraer Legacy 600", "Eurofighter Typhoon", "F-16A/B", "F/A-18", "Falcon 2000", "Falcon 900",
    "Fokker 100", "Fokker 50", "Fokker 70", "Global Express", "Gulfstream IV", "Gulfstream V", "Hawk T1",
    "Il-76", "L-1011", "MD-11", "MD-80", "MD-87", "MD-90", "Metroliner", "Model B200", "PA-28", "SR-20",
    "Saab 2000", "Saab 340", "Spitfire", "Tornado", "Tu-134", "Tu-154", "Yak-42",
)
_INDEX = {name: i for i, name in enumerate(VARIANTS)}

_INSTRUCTIONS = f"""\
Download {ARCHIVE} (2.75 GB, "Data, annotations, and evaluation code") from the
official page https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/
(https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/{ARCHIVE}) and
extract it inside the manual dir:

    tar xzf {ARCHIVE} -C <manual_dir>

so that <manual_dir>/{ROOT}/data/variants.txt,
<manual_dir>/{ROOT}/data/images_variant_trainval.txt,
<manual_dir>/{ROOT}/data/images_variant_test.txt and
<manual_dir>/{ROOT}/data/images/*.jpg exist. The manual dir is the one given in
DownloadConfig(manual_dir=...), by default <data_dir>/downloads/manual/.
"""


def _missing_error(manual_dir: Path, missing: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"FGVC-Aircraft: {missing} not found under manual dir {manual_dir}. Instructions:\n{_INSTRUCTIONS}"
    )


def _read_list(path: Path) -> list[tuple[str, str]]:
    """`images_variant_*.txt` as (image id, variant name); names contain spaces, so split once."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            image_id, variant = line.strip().split(" ", 1)
            rows.append((image_id, variant))
    return rows


def crop_banner(jpeg: bytes) -> bytes:
    """Drop the bottom BANNER_PX rows (the copyright banner) and re-encode as RGB JPEG."""
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as im:
        im = im.convert("RGB")
        width, height = im.size
        out = io.BytesIO()
        im.crop((0, 0, width, height - BANNER_PX)).save(out, format="JPEG", quality=95)
    return out.getvalue()


class FgvcAircraft(tfds.core.GeneratorBasedBuilder):
    """FGVC-Aircraft 2013b, 100 variants, banner cropped; splits trainval / test / train / val."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: official 2013b splits, 20 px banner cropped."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                    "label": tfds.features.ClassLabel(names=list(VARIANTS)),
                    "file_name": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/",
            citation="Maji et al., Fine-Grained Visual Classification of Aircraft, arXiv:1306.5151, 2013.",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = Path(dl_manager.manual_dir)  # TFDS raises with the instructions if absent or empty
        data = manual_dir / ROOT / "data"
        for required in ("variants.txt", "images_variant_trainval.txt", "images_variant_test.txt", "images"):
            if not (data / required).exists():
                raise _missing_error(manual_dir, data / required)
        found = [v.strip() for v in (data / "variants.txt").read_text(encoding="utf-8").splitlines() if v.strip()]
        if sorted(found) != sorted(VARIANTS):
            unknown = sorted(set(found) - set(VARIANTS))
            absent = sorted(set(VARIANTS) - set(found))
            raise ValueError(f"FGVC-Aircraft: {data / 'variants.txt'} is not the 2013b list of 100 variants "
                             f"(unexpected: {unknown[:5]}, missing: {absent[:5]}); extract {ARCHIVE}.")
        return {
            split: self._generate_examples(data, data / f"images_variant_{split}.txt")
            for split in SPLITS
            if (data / f"images_variant_{split}.txt").exists()
        }

    def _generate_examples(self, data: Path, list_file: Path):
        for image_id, variant in _read_list(list_file):
            path = data / "images" / f"{image_id}.jpg"
            if not path.exists():
                raise FileNotFoundError(f"FGVC-Aircraft: {path} is listed in {list_file.name} but absent")
            yield image_id, {
                "image": crop_banner(path.read_bytes()),
                "label": _INDEX[variant],
                "file_name": path.name,
            }
