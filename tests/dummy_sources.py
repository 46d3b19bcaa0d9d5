"""Tiny fake copies of the real downloads of the TFDS builders this project uses.

Each `write_<name>(root)` writes a few small random images into `root` in the
form the builder receives them from TFDS's DownloadManager: the downloaded
files under their real names (archives, .mat, .json), or, for ImageNet, the
manual_dir with the ILSVRC tars. It returns what the patched call must
return: the paths `dl_manager.download(...)` would give (same structure as the
URL argument; `download_and_extract` then runs TFDS's real extractor on them),
or the manual_dir. TFDS's own dummy-data tests work the same way (their
DL_EXTRACT_RESULT), but the pip wheel ships no dummy_data, so it is written here.

`EXPECTED[name][split]` lists what each written example must read back as:
one tuple of feature values per example, in the order of `FEATURES[name]`;
string labels are class names (the source gives names, not indices).

`prepare_from_dummy(name, data_dir, tmp_path)` writes the source and builds
the real builder as array_record, fully offline.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
import zlib
from pathlib import Path
from unittest import mock
from urllib.parse import urlparse

import numpy as np
import scipy.io
from PIL import Image

SIZE = (24, 32)  # (height, width) of every variable-size image written here

# ---------------------------------------------------------------- helpers


def image_bytes(seed: int, size: tuple[int, int] = SIZE, fmt: str = "JPEG", mode: str = "RGB",
                values: tuple[int, int] = (0, 256)) -> bytes:
    """A random image of `size` (h, w), encoded as `fmt`."""
    h, w = size
    shape = (h, w) if mode == "L" else (h, w, 3)
    arr = np.random.default_rng(seed).integers(*values, size=shape, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format=fmt)
    return buf.getvalue()


def _tar(path: Path, members: dict[str, bytes], gz: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz" if gz else "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _mat(path: Path, **arrays) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, arrays)
    return path


def _tfds_lines(relpath: str) -> list[str]:
    import tensorflow_datasets as tfds

    return tfds.core.tfds_path(relpath).read_text().split()


# ---------------------------------------------------------------- expected contents

_CIFAR100_FINE = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster "
    "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck "
    "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger "
    "tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm").split()
_CIFAR100_COARSE = (
    "aquatic_mammals fish flowers food_containers fruit_and_vegetables household_electrical_devices "
    "household_furniture insects large_carnivores large_man-made_outdoor_things large_natural_outdoor_scenes "
    "large_omnivores_and_herbivores medium_mammals non-insect_invertebrates people reptiles small_mammals trees "
    "vehicles_1 vehicles_2").split()
_CIFAR10 = "airplane automobile bird cat deer dog frog horse ship truck".split()

# ImageNet validation labels come from the resource shipped in TFDS, in sorted file-name order.
_VAL_NAMES = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 5)]
_REAL_JSON = [[65], [970, 795], [230, 231], []]  # ReaL labels per val image; the 4th has none


def _val_synsets() -> list[str]:
    return _tfds_lines("datasets/imagenet2012/validation_labels.txt")[:len(_VAL_NAMES)]


FEATURES = {
    "cifar10": ("label",),
    "cifar100": ("label", "coarse_label"),
    "oxford_iiit_pet": ("label", "species"),
    "oxford_flowers102": ("label",),
    "food101": ("label",),
    "cars196": ("label",),
    "imagenet2012": ("label",),
    "imagenet2012_real": ("original_label", "real_label"),
    "svhn_cropped": ("label",),
    "dtd": ("label",),
    "eurosat/rgb": ("label",),
}
# Image shape every example must decode to (all sources are written at a fixed size).
SHAPES = {name: (*SIZE, 3) for name in FEATURES} | {
    "cifar10": (32, 32, 3), "cifar100": (32, 32, 3), "svhn_cropped": (32, 32, 3), "eurosat/rgb": (64, 64, 3)}

_CIFAR10_SPLITS = {"train": [0, 1, 2, 3, 9], "test": [0, 1, 1]}  # train: one per data_batch_{1..5}.bin
_CIFAR100_SPLITS = {"train": [(0, 4), (1, 1), (2, 14), (99, 13)], "test": [(1, 1), (2, 14)]}  # (fine, coarse)
_PETS = {"trainval": [("Abyssinian_1", 1, 1), ("american_bulldog_10", 2, 2), ("Bengal_3", 6, 1)],
         "test": [("Abyssinian_2", 1, 1), ("beagle_4", 5, 2)]}  # (image, class id 1-37, species 1 cat / 2 dog)
_FLOWER_LABELS = [1, 2, 1, 2, 102, 1, 2, 50]  # imagelabels.mat, 1-based, for image_00001..8
_FLOWER_SETID = {"trnid": [1, 2, 3], "valid": [4, 5], "tstid": [6, 7, 8]}
_FOOD = {"train": {"apple_pie": ["1005649", "1011328"], "ramen": ["1001116"]},
         "test": {"apple_pie": ["1011059"], "sushi": ["1002350"]}}
_CARS = {"train": [1, 2, 196], "test": [2, 14]}  # class (1-based) of images 00001.jpg, 00002.jpg, ...
_SVHN = {"train": [1, 10, 5], "test": [10, 3], "extra": [2, 7]}  # y as in the .mat: digit 0 is stored as 10
_DTD = {"train1": ["banded/banded_0002.jpg", "blotchy/blotchy_0003.jpg"],
        "test1": ["banded/banded_0004.jpg", "zigzagged/zigzagged_0005.jpg", "blotchy/blotchy_0008.jpg"],
        "val1": ["blotchy/blotchy_0006.jpg", "banded/banded_0007.jpg"]}
_EUROSAT = ["AnnualCrop_1", "AnnualCrop_2", "Forest_1", "SeaLake_7"]
_IMAGENET_TRAIN = {"n01440764": ["n01440764_10026", "n01440764_10027"], "n01443537": ["n01443537_10007"]}


def _expected() -> dict[str, dict[str, list[tuple]]]:
    val = _val_synsets()
    return {
        "cifar10": {s: [(x,) for x in v] for s, v in _CIFAR10_SPLITS.items()},
        "cifar100": _CIFAR100_SPLITS,
        "oxford_iiit_pet": {{"trainval": "train"}.get(s, s): [(c - 1, sp - 1) for _, c, sp in v]
                            for s, v in _PETS.items()},
        "oxford_flowers102": {split: [(_FLOWER_LABELS[i - 1] - 1,) for i in _FLOWER_SETID[key]]
                              for split, key in (("train", "trnid"), ("validation", "valid"), ("test", "tstid"))},
        "food101": {{"test": "validation"}.get(s, s): [(c,) for c, ids in d.items() for _ in ids]
                    for s, d in _FOOD.items()},
        "cars196": {s: [(c - 1,) for c in v] for s, v in _CARS.items()},
        "imagenet2012": {"train": [(syn,) for syn, ims in _IMAGENET_TRAIN.items() for _ in ims],
                         "validation": [(syn,) for syn in val]},
        "imagenet2012_real": {"validation": [(syn, real) for syn, real in zip(val, _REAL_JSON)]},
        "svhn_cropped": {s: [(y % 10,) for y in v] for s, v in _SVHN.items()},
        "dtd": {s[:-1].replace("val", "validation"): [(f.split("/")[0],) for f in v] for s, v in _DTD.items()},
        "eurosat/rgb": {"train": [(n.split("_")[0],) for n in _EUROSAT]},
    }


EXPECTED = _expected()

# ---------------------------------------------------------------- writers


def _cifar_bin(records: list[tuple[int, ...]], seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return b"".join(bytes(labels) + rng.integers(0, 256, 3 * 32 * 32, dtype=np.uint8).tobytes()
                    for labels in records)  # label byte(s), then the R, G, B planes (32x32 each)


def write_cifar10(root: Path) -> Path:
    """cifar-10-binary.tar.gz: cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin + batches.meta.txt."""
    p = "cifar-10-batches-bin/"
    tr, te = _CIFAR10_SPLITS["train"], _CIFAR10_SPLITS["test"]
    members = {f"{p}data_batch_{i + 1}.bin": _cifar_bin([(y,)], i) for i, y in enumerate(tr)}
    members[f"{p}test_batch.bin"] = _cifar_bin([(y,) for y in te], 9)
    members[f"{p}batches.meta.txt"] = ("\n".join(_CIFAR10) + "\n\n").encode()
    return _tar(root / "cifar-10-binary.tar.gz", members)


def write_cifar100(root: Path) -> Path:
    """cifar-100-binary.tar.gz: cifar-100-binary/{train,test}.bin ((coarse, fine) bytes) + label-name files."""
    p = "cifar-100-binary/"
    members = {f"{p}{split}.bin": _cifar_bin([(c, f) for f, c in recs], i)
               for i, (split, recs) in enumerate(_CIFAR100_SPLITS.items())}
    members[f"{p}coarse_label_names.txt"] = "\n".join(_CIFAR100_COARSE).encode()
    members[f"{p}fine_label_names.txt"] = "\n".join(_CIFAR100_FINE).encode()
    return _tar(root / "cifar-100-binary.tar.gz", members)


def write_oxford_iiit_pet(root: Path) -> dict[str, Path]:
    """images.tar.gz: images/*.jpg; annotations.tar.gz: annotations/{trainval,test}.txt, trimaps/*.png,
    xmls/*.xml (head boxes, trainval only). Both are plain tars despite the name, as TFDS notes."""
    h, w = SIZE
    images, annos = {}, {}
    for split, rows in _PETS.items():
        annos[f"annotations/{split}.txt"] = "".join(f"{n} {c} {s} 1\n" for n, c, s in rows).encode()
        for i, (name, _, _) in enumerate(rows):
            images[f"images/{name}.jpg"] = image_bytes(zlib.crc32(name.encode()))
            annos[f"annotations/trimaps/{name}.png"] = image_bytes(i, fmt="PNG", mode="L", values=(1, 4))
            if split == "trainval":
                annos[f"annotations/xmls/{name}.xml"] = (
                    f"<annotation><filename>{name}.jpg</filename><size><width>{w}</width><height>{h}</height>"
                    "<depth>3</depth></size><object><name>cat</name><bndbox><xmin>2</xmin><ymin>3</ymin>"
                    "<xmax>20</xmax><ymax>15</ymax></bndbox></object></annotation>").encode()
    return {"images": _tar(root / "images.tar.gz", images, gz=False),
            "annotations": _tar(root / "annotations.tar.gz", annos, gz=False)}


def write_oxford_flowers102(root: Path) -> dict[str, Path]:
    """102flowers.tgz: jpg/image_%05d.jpg; imagelabels.mat {labels: 1 x N}; setid.mat {trnid, valid, tstid}."""
    jpgs = {f"jpg/image_{i:05d}.jpg": image_bytes(i) for i in range(1, len(_FLOWER_LABELS) + 1)}
    return {"images": _tar(root / "102flowers.tgz", jpgs),
            "labels": _mat(root / "imagelabels.mat", labels=np.array([_FLOWER_LABELS], np.uint8)),
            "setid": _mat(root / "setid.mat", **{k: np.array([v], np.uint16) for k, v in _FLOWER_SETID.items()})}


def write_food101(root: Path) -> Path:
    """food-101.tar.gz: food-101/images/<class>/<id>.jpg; food-101/meta/{train,test}.json {class: [class/id]}."""
    members = {}
    for split, classes in _FOOD.items():
        members[f"food-101/meta/{split}.json"] = json.dumps({c: [f"{c}/{i}" for i in ids]
                                                             for c, ids in classes.items()}).encode()
        members.update({f"food-101/images/{c}/{i}.jpg": image_bytes(int(i)) for c, ids in classes.items() for i in ids})
    return _tar(root / "food-101.tar.gz", members)


def _cars_annos(classes: list[int]) -> np.ndarray:
    """The annotations struct array (1 x N) of the Stanford Cars .mat files."""
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
    annos = np.zeros((1, len(classes)), dtype=[(f, object) for f in fields])
    for i, c in enumerate(classes):
        annos[0, i] = (np.array([[2]], np.uint8), np.array([[3]], np.uint8), np.array([[28]], np.uint8),
                       np.array([[20]], np.uint8), np.array([[c]], np.uint8), np.array([f"{i + 1:05d}.jpg"]))
    return annos


def write_cars196(root: Path) -> dict[str, Path]:
    """cars_{train,test}.tgz: cars_{train,test}/%05d.jpg; car_devkit.tgz: devkit/cars_train_annos.mat;
    cars_test_annos_withlabels.mat. Annotations: struct (bbox_x1, bbox_y1, bbox_x2, bbox_y2, class, fname)."""
    def buf(arrays):
        b = io.BytesIO()
        scipy.io.savemat(b, arrays)
        return b.getvalue()
    out = {s: _tar(root / f"cars_{s}.tgz", {f"cars_{s}/{i + 1:05d}.jpg": image_bytes(10 * i + len(s))
                                            for i in range(len(c))}) for s, c in _CARS.items()}
    out["extra"] = _tar(root / "car_devkit.tgz", {
        "devkit/cars_train_annos.mat": buf({"annotations": _cars_annos(_CARS["train"])}),
        "devkit/cars_meta.mat": buf({"class_names": np.array([["AM General Hummer SUV 2000"]], dtype=object)})})
    out["test_annos"] = _mat(root / "cars_test_annos_withlabels.mat", annotations=_cars_annos(_CARS["test"]))
    return out


def _imagenet_val_tar(manual: Path) -> None:
    _tar(manual / "ILSVRC2012_img_val.tar", {n: image_bytes(i) for i, n in enumerate(_VAL_NAMES)}, gz=False)


def write_imagenet2012(root: Path) -> Path:
    """manual_dir: ILSVRC2012_img_train.tar (one <synset>.tar per class of <synset>_<n>.JPEG) and
    ILSVRC2012_img_val.tar (ILSVRC2012_val_%08d.JPEG; labels: TFDS's validation_labels.txt)."""
    manual = root / "manual"
    inner = {f"{syn}.tar": _tar(root / "classes" / f"{syn}.tar", {f"{n}.JPEG": image_bytes(zlib.crc32(n.encode()))
                                                                  for n in ims}, gz=False).read_bytes()
             for syn, ims in _IMAGENET_TRAIN.items()}
    _tar(manual / "ILSVRC2012_img_train.tar", inner, gz=False)
    _imagenet_val_tar(manual)
    return manual


def write_imagenet2012_real(root: Path) -> tuple[Path, Path]:
    """(manual_dir with ILSVRC2012_img_val.tar, real.json: one list of ReaL class ids per val image, in order)."""
    manual = root / "manual"
    _imagenet_val_tar(manual)
    (root / "real.json").write_text(json.dumps(_REAL_JSON))
    return manual, root / "real.json"


def write_svhn_cropped(root: Path) -> dict[str, Path]:
    """{train,test,extra}_32x32.mat: X uint8 (32, 32, 3, N), y uint8 (N, 1) in 1..10 (10 = digit 0)."""
    rng = np.random.default_rng(0)
    return {s: _mat(root / f"{s}_32x32.mat", X=rng.integers(0, 256, (32, 32, 3, len(y)), dtype=np.uint8),
                    y=np.array(y, np.uint8)[:, None]) for s, y in _SVHN.items()}


def write_dtd(root: Path) -> Path:
    """dtd-r1.0.1.tar.gz (a plain tar, as TFDS notes): dtd/images/<attr>/<attr>_%04d.jpg;
    dtd/labels/{train,val,test}1.txt list <attr>/<file> per line."""
    members = {f"dtd/labels/{s}.txt": "".join(f + "\n" for f in fs).encode() for s, fs in _DTD.items()}
    members.update({f"dtd/images/{f}": image_bytes(i) for i, f in enumerate(sum(_DTD.values(), []))})
    return _tar(root / "dtd-r1.0.1.tar.gz", members, gz=False)


def write_eurosat(root: Path) -> Path:
    """EuroSAT.zip (rgb config): 2750/<Class>/<Class>_<n>.jpg, 64x64 RGB JPEG."""
    return _zip(root / "EuroSAT.zip", {f"2750/{n.split('_')[0]}/{n}.jpg": image_bytes(i, (64, 64))
                                       for i, n in enumerate(_EUROSAT)})


WRITERS = {
    "cifar10": write_cifar10, "cifar100": write_cifar100, "oxford_iiit_pet": write_oxford_iiit_pet,
    "oxford_flowers102": write_oxford_flowers102, "food101": write_food101, "cars196": write_cars196,
    "imagenet2012": write_imagenet2012, "imagenet2012_real": write_imagenet2012_real,
    "svhn_cropped": write_svhn_cropped, "dtd": write_dtd, "eurosat/rgb": write_eurosat,
}

# ---------------------------------------------------------------- preparing


def _fake_download(written):
    """DownloadManager.download returning the written files; checks each URL names the file written for it."""
    def download(self, url_or_urls):
        if written is None:
            raise AssertionError(f"builder asked to download {url_or_urls}; the dummy source is manual_dir only")
        def check(url, path):
            url = getattr(url, "url", url)  # str or tfds.download.Resource
            if os.path.basename(urlparse(url).path) != Path(path).name:
                raise AssertionError(f"builder asked for {url}; the dummy source wrote {path}")
        if isinstance(url_or_urls, dict):
            if set(url_or_urls) != set(written):
                raise AssertionError(f"builder asked for {sorted(url_or_urls)}; wrote {sorted(written)}")
            for k in written:
                check(url_or_urls[k], written[k])
        else:
            check(url_or_urls, written)
        return written
    return download


def prepare_from_dummy(name: str, data_dir: str | os.PathLike, tmp_path: str | os.PathLike):
    """Build TFDS dataset `name` as array_record in `data_dir` from dummy source files; return the builder.

    name: a key of WRITERS, i.e. a TFDS name (with its config where it has several: "eurosat/rgb").
    data_dir: the TFDS data_dir to prepare into (read it back with tfds.data_source(name, data_dir=...)).
    tmp_path: scratch folder for the source files ("<tmp_path>/source") and TFDS's downloads/extractions.
    Nothing is fetched: DownloadManager.download returns the written files and download_and_extract runs
    TFDS's real extractor on them; ImageNet builders read the written manual_dir (DownloadConfig.manual_dir).
    Checksums are not verified (nothing goes through the real download path) and statistics are skipped.
    Each split holds the examples in EXPECTED[name]; images have shape SHAPES[name].
    """
    import tensorflow_datasets as tfds

    tmp_path = Path(tmp_path)
    written = WRITERS[name](tmp_path / "source")
    manual_dir = None
    if name == "imagenet2012":
        manual_dir, written = written, None
    elif name == "imagenet2012_real":
        manual_dir, written = written
    fake = _fake_download(written)
    dm = tfds.download.DownloadManager
    with mock.patch.object(dm, "download", fake), \
            mock.patch.object(dm, "download_and_extract", lambda self, urls: self.extract(fake(self, urls))):
        builder = tfds.builder(name, data_dir=str(data_dir), file_format="array_record")
        builder.download_and_prepare(
            download_dir=tmp_path / "downloads",
            download_config=tfds.download.DownloadConfig(
                manual_dir=manual_dir, compute_stats=tfds.download.ComputeStatsMode.SKIP))
    return builder
