"""The 19 VTAB-1k tasks, exactly as google-research/task_adaptation (TA) defines them.

Source read: github.com/google-research/task_adaptation at commit
d7630d3c43ba052b5a35546b312d9454a9f2c96b (2021-03-22): `task_adaptation/data/*.py`
(one class per dataset), the `*_test.py` beside them (expected split sizes) and
`scripts/run_all_tasks.sh` (the task arguments: which KITTI/CLEVR task, which
smallNORB/dSprites attribute, the Retinopathy config).

Splits. VTAB-1k trains on `train800val200` (1,000 examples), tunes on
`train800`/`val200` and reports on `test`. TA builds these strings at run time
from TFDS split sizes and split percentages; here they are written out as
literals. The sizes they depend on are the ones TA's own tests expect
(`<dataset>_test.py`): caltech101 train 3,060; cifar100 50,000; oxford_iiit_pet
3,680; svhn_cropped 73,257; eurosat 27,000; resisc45 31,500; clevr 70,000;
dsprites 737,280; smallnorb test 24,300.

Labels. Each `label` maps one decoded example, as `tfds.data_source` yields it
(numpy values; a `Sequence` feature decodes to a dict of *lists*, possibly
empty), to an int class, re-implementing TA's `base_preprocess_fn`. TA compares
distances in float32 (the numpy thresholds are converted to the tensor's
dtype), so the bucketing below does too.

Images. smallNORB and dSprites are one-channel; TA tiles them to 3 channels and
multiplies dSprites' {0, 1} pixels by 255 (`image_fix`). TA resizes every image
to 224x224 without cropping (`data_loader.preprocess_fn`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from bench.errors import BenchError

Example = Mapping[str, Any]
LabelFn = Callable[[Example], int]

TA_REPO = "google-research/task_adaptation"
TA_COMMIT = "d7630d3c43ba052b5a35546b312d9454a9f2c96b"

# Manual-download instructions (TFDS 4.9.10 builders; TA's README only says these two
# "can not be downloaded automatically"). manual_dir defaults to <data_dir>/downloads/manual.
RESISC45_MANUAL = (
    "Download NWPU-RESISC45.rar (OneDrive link in TFDS resisc45 MANUAL_DOWNLOAD_INSTRUCTIONS; "
    "homepage http://www.escience.cn/people/JunweiHan/NWPU-RESISC45.html) and extract it so that "
    "<manual_dir>/NWPU-RESISC45/<class>/*.jpg exists (45 class folders, 31,500 images)."
)
RETINOPATHY_MANUAL = (
    "Download the Kaggle competition data (https://www.kaggle.com/c/diabetic-retinopathy-detection/data) "
    "and unpack into <manual_dir>: train/*.jpeg (train.zip.*), test/*.jpeg (test.zip.*), sample/ "
    "(sample.zip) and trainLabels.csv. Building also downloads retinopathy_solution.csv (test labels) "
    "from storage.googleapis.com, and the btgraham-300 config needs OpenCV."
)


def _bucket(value: float, thresholds: tuple[float, ...], num_classes: int) -> int:
    """TA's `tf.reduce_max(tf.where((thrs - value) < 0))`: the last i with thrs[i] < value (float32)."""
    thrs = np.asarray(thresholds, dtype=np.float32)
    below = np.flatnonzero(thrs - np.float32(value) < 0)
    if below.size == 0 or below[-1] >= num_classes:
        raise ValueError(f"value {value} falls outside TA's bins {list(thresholds)}")
    return int(below[-1])


def _xyz(objects: Example, key: str) -> np.ndarray:
    """A Sequence of 3-vectors as an (n, 3) float32 array (n may be 0)."""
    return np.asarray(objects[key], dtype=np.float32).reshape(-1, 3)


def label_plain(ex: Example) -> int:
    """The TFDS `label` ClassLabel, unchanged."""
    return int(ex["label"])


def label_clevr_count(ex: Example) -> int:
    """clevr.py `_count_preprocess_fn`: number of objects - 3 (scenes hold 3..10 objects)."""
    n = len(ex["objects"]["size"]) - 3
    if not 0 <= n < 8:
        raise ValueError(f"CLEVR scene with {n + 3} objects: TA's count_all expects 3..10")
    return n


# clevr.py `_closest_object_preprocess_fn`: depth (pixel_coords[:, 2]) of the closest object.
CLEVR_DISTANCE_THRESHOLDS = (0.0, 8.0, 8.5, 9.0, 9.5, 10.0, 100.0)


def label_clevr_distance(ex: Example) -> int:
    depth = _xyz(ex["objects"], "pixel_coords")[:, 2]
    if depth.size == 0:
        raise ValueError("CLEVR scene without objects (TFDS clevr 'test' has no annotations)")
    return _bucket(float(depth.min()), CLEVR_DISTANCE_THRESHOLDS, 6)


# kitti.py `_closest_vehicle_distance_pp`: z of the closest Car/Van/Truck (type < 3);
# 1000.0 stands in when there is none, so it lands in the last class ("no vehicle").
KITTI_DISTANCE_THRESHOLDS = (-100.0, 8.0, 20.0, 999.0)
KITTI_NO_VEHICLE_Z = 1000.0


def label_kitti_distance(ex: Example) -> int:
    objects = ex["objects"]
    types = np.asarray(objects["type"], dtype=np.int64).reshape(-1)
    z = _xyz(objects, "location")[:, 2]
    dist = np.min(np.append(z[types < 3], np.float32(KITTI_NO_VEHICLE_Z)))
    return _bucket(float(dist), KITTI_DISTANCE_THRESHOLDS, 4)


def _dsprites(key: str, num_original: int, num_classes: int) -> LabelFn:
    """dsprites.py: floordiv(float32(label), num_original / num_classes), grouping nearby values."""
    factor = np.float32(float(num_original) / num_classes)

    def label(ex: Example) -> int:
        return int(np.floor(np.float32(ex[key]) / factor))

    label.__name__ = f"label_dsprites_{key}"
    return label


def _attribute(key: str) -> LabelFn:
    """smallnorb.py: the predicted attribute's ClassLabel, unchanged."""

    def label(ex: Example) -> int:
        return int(ex[key])

    label.__name__ = f"label_{key}"
    return label


# dSprites label_x_position has 32 values, label_orientation 40 (TFDS); run_all_tasks.sh asks 16 classes.
label_dsprites_location = _dsprites("label_x_position", 32, 16)  # factor 2.0
label_dsprites_orientation = _dsprites("label_orientation", 40, 16)  # factor 2.5
label_smallnorb_azimuth = _attribute("label_azimuth")  # 18 classes
label_smallnorb_elevation = _attribute("label_elevation")  # 9 classes

SPLIT_NAMES = ("train800", "val200", "train800val200", "test")
Group = Literal["natural", "specialized", "structured"]
ImageFix = Literal["tile3", "tile3_x255"]


@dataclass(frozen=True)
class VtabTask:
    """One VTAB-1k task: where its data come from and how its label is computed."""

    id: str
    group: Group
    builder: str  # TFDS name, with "/config" where TA uses one
    version: str  # the version pattern TA passes to tfds.builder ("3.*.*" or exact)
    splits: Mapping[str, str]  # train800, val200, train800val200, test -> TFDS split string
    image_key: str
    num_classes: int
    label: LabelFn
    manual: str | None = None  # manual-download instructions, None if TFDS downloads it
    image_fix: ImageFix | None = None  # TA's channel fix for one-channel images
    built_version: str | None = None  # what this project builds where TA's pin no longer exists in TFDS

    def __post_init__(self) -> None:
        if set(self.splits) != set(SPLIT_NAMES):
            raise ValueError(f"{self.id}: splits must be exactly {SPLIT_NAMES}, got {sorted(self.splits)}")
        object.__setattr__(self, "splits", MappingProxyType(dict(self.splits)))

    @property
    def spec(self) -> str:
        """`builder:version`, as TA passes it to `tfds.builder`."""
        return f"{self.builder}:{self.version}"

    @property
    def tfds_name(self) -> str:
        """The TFDS name this project prepares and reads: TA's pin, or its replacement."""
        return f"{self.builder}:{self.built_version or self.version}"


def _splits(train800: str, val200: str, test: str) -> dict[str, str]:
    return {"train800": train800, "val200": val200, "train800val200": f"{train800}+{val200}", "test": test}


# Datasets with a TFDS validation split (dtd.py, oxford_flowers102.py, sun397.py, patch_camelyon.py,
# diabetic_retinopathy.py, dmlab.py, kitti.py): val200 is the head of TFDS "validation".
OWN_VAL = _splits("train[:800]", "validation[:200]", "test")
# The others carve val200 from TFDS train at TA's train/val boundary (count in the comment).
CALTECH101 = _splits("train[:800]", "train[2754:2954]", "test")  # caltech.py: 90% of 3,060
CIFAR100 = _splits("train[:800]", "train[45000:45200]", "test")  # cifar.py: 90% of 50,000
PETS = _splits("train[:800]", "train[2944:3144]", "test")  # oxford_iiit_pet.py: 80% of 3,680
SVHN = _splits("train[:800]", "train[65931:66131]", "test")  # svhn.py: 90% of 73,257
EUROSAT = _splits("train[:800]", "train[16200:16400]", "train[21600:]")  # eurosat.py: 60/20/20 of 27,000
RESISC45 = _splits("train[:800]", "train[18900:19100]", "train[25200:]")  # resisc45.py: 60/20/20 of 31,500
CLEVR = _splits("train[:800]", "train[63000:63200]", "validation")  # clevr.py: 90% of 70,000; test=validation
DSPRITES = _splits("train[:800]", "train[589824:590024]", "train[663552:]")  # dsprites.py: 80/10/10 of 737,280
SMALLNORB = _splits("train[:800]", "test[:200]", "test[50%:]")  # smallnorb.py: VAL_SPLIT_PERCENT = 50 of test


_P = label_plain
_ROWS: tuple[VtabTask, ...] = (
    # natural. Files named are TA's task_adaptation/data/<file>.
    VtabTask("caltech101", "natural", "caltech101", "3.*.*", CALTECH101, "image", 102, _P),  # caltech.py
    VtabTask("cifar100", "natural", "cifar100", "3.*.*", CIFAR100, "image", 100, _P),  # cifar.py, num_classes=100
    VtabTask("dtd", "natural", "dtd", "3.*.*", OWN_VAL, "image", 47, _P),  # dtd.py
    VtabTask("oxford_flowers102", "natural", "oxford_flowers102", "2.*.*", OWN_VAL, "image", 102, _P),
    # oxford_iiit_pet.py pins 3.*.*; TFDS 4.9.10 only builds 4.0.0 ("Fix corrupt images"), so TA's pin
    # no longer resolves there: this project builds 4.*.* (same 3,680 / 3,669 split sizes).
    VtabTask("oxford_iiit_pet", "natural", "oxford_iiit_pet", "3.*.*", PETS, "image", 37, _P,
             built_version="4.*.*"),
    VtabTask("sun397", "natural", "sun397/tfds", "4.*.*", OWN_VAL, "image", 397, _P),  # sun397.py, config="tfds"
    VtabTask("svhn", "natural", "svhn_cropped", "3.*.*", SVHN, "image", 10, _P),  # svhn.py
    # specialized
    VtabTask("patch_camelyon", "specialized", "patch_camelyon", "2.*.*", OWN_VAL, "image", 2, _P),
    VtabTask("eurosat", "specialized", "eurosat/rgb", "2.*.*", EUROSAT, "image", 10, _P),  # subset="rgb"
    VtabTask("resisc45", "specialized", "resisc45", "3.*.*", RESISC45, "image", 45, _P, manual=RESISC45_MANUAL),
    # diabetic_retinopathy.py with config="btgraham-300" (run_all_tasks.sh), no heavy augmentation.
    VtabTask("diabetic_retinopathy", "specialized", "diabetic_retinopathy_detection/btgraham-300", "3.*.*",
             OWN_VAL, "image", 5, _P, manual=RETINOPATHY_MANUAL),
    # structured. Task arguments from scripts/run_all_tasks.sh.
    VtabTask("clevr_count", "structured", "clevr", "3.*.*", CLEVR, "image", 8, label_clevr_count),  # count_all
    VtabTask("clevr_distance", "structured", "clevr", "3.*.*", CLEVR, "image", 6,
             label_clevr_distance),  # closest_object_distance
    VtabTask("dmlab", "structured", "dmlab", "2.0.1", OWN_VAL, "image", 6, _P),  # dmlab.py pins exactly 2.0.1
    VtabTask("dsprites_location", "structured", "dsprites", "2.*.*", DSPRITES, "image", 16,
             label_dsprites_location, image_fix="tile3_x255"),  # label_x_position, num_classes=16
    VtabTask("dsprites_orientation", "structured", "dsprites", "2.*.*", DSPRITES, "image", 16,
             label_dsprites_orientation, image_fix="tile3_x255"),  # label_orientation, num_classes=16
    VtabTask("kitti_distance", "structured", "kitti", "3.1.0", OWN_VAL, "image", 4,
             label_kitti_distance),  # kitti.py pins exactly 3.1.0; task="closest_vehicle_distance"
    VtabTask("smallnorb_azimuth", "structured", "smallnorb", "2.*.*", SMALLNORB, "image", 18,
             label_smallnorb_azimuth, image_fix="tile3"),
    VtabTask("smallnorb_elevation", "structured", "smallnorb", "2.*.*", SMALLNORB, "image", 9,
             label_smallnorb_elevation, image_fix="tile3"),
)

# In the column order of the ViT paper's Table 9.
TASKS: dict[str, VtabTask] = {t.id: t for t in _ROWS}


def task(id: str) -> VtabTask:  # noqa: A002 (the field is called id)
    """The VTAB task `id`; BenchError naming the valid ids if there is none."""
    try:
        return TASKS[id]
    except KeyError:
        hint = difflib.get_close_matches(str(id), TASKS, n=1)
        raise BenchError(
            f"unknown VTAB task {id!r}; valid ids: {', '.join(TASKS)}"
            + (f" (did you mean '{hint[0]}'?)" if hint else "")
        ) from None
