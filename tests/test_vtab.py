"""The VTAB-1k registry against google-research/task_adaptation (TA) and the installed TFDS.

Expected values are computed here from TA's formulas, not read back from bench.tables.vtab.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.tables import vtab
from bench.errors import BenchError

TABLE9 = [  # ViT paper, Table 9, left to right
    "caltech101", "cifar100", "dtd", "oxford_flowers102", "oxford_iiit_pet", "sun397", "svhn",
    "patch_camelyon", "eurosat", "resisc45", "diabetic_retinopathy",
    "clevr_count", "clevr_distance", "dmlab", "dsprites_location", "dsprites_orientation", "kitti_distance",
    "smallnorb_azimuth", "smallnorb_elevation",
]
CLASSES = dict(zip(TABLE9, [102, 100, 47, 102, 37, 397, 10, 2, 10, 45, 5, 8, 6, 6, 16, 16, 4, 18, 9]))

# TFDS split sizes, as TA's *_test.py expect them.
TRAIN_SIZE = {"caltech101": 3060, "cifar100": 50000, "oxford_iiit_pet": 3680, "svhn": 73257, "eurosat": 27000,
              "resisc45": 31500, "clevr_count": 70000, "clevr_distance": 70000, "dsprites_location": 737280,
              "dsprites_orientation": 737280}


def expected_splits(tid: str) -> dict[str, str]:
    """TA's tfds_splits for train800/val200/train800val200/test, recomputed from its percentages."""
    n = TRAIN_SIZE.get(tid)
    if tid in ("caltech101", "cifar100", "svhn", "clevr_count", "clevr_distance", "oxford_iiit_pet"):
        tc = (80 if tid == "oxford_iiit_pet" else 90) * n // 100
        val, test = f"train[{tc}:{tc + 200}]", ("validation" if tid.startswith("clevr") else "test")
    elif tid in ("eurosat", "resisc45"):
        tc, vc = n * 60 // 100, n * 20 // 100
        val, test = f"train[{tc}:{tc + 200}]", f"train[{tc + vc}:]"
    elif tid.startswith("dsprites"):
        tc, vc = 80 * n // 100, 10 * n // 100
        val, test = f"train[{tc}:{tc + 200}]", f"train[{tc + vc}:]"
    elif tid.startswith("smallnorb"):
        val, test = "test[:200]", "test[50%:]"
    else:
        val, test = "validation[:200]", "test"
    return {"train800": "train[:800]", "val200": val, "train800val200": f"train[:800]+{val}", "test": test}


def test_nineteen_tasks_in_table9_order():
    assert list(vtab.TASKS) == TABLE9
    groups = [t.group for t in vtab.TASKS.values()]
    assert groups == ["natural"] * 7 + ["specialized"] * 4 + ["structured"] * 8
    assert {t: vtab.TASKS[t].num_classes for t in TABLE9} == CLASSES
    assert all(t.image_key == "image" for t in vtab.TASKS.values())


def test_task_lookup_and_unknown_id():
    assert vtab.task("kitti_distance") is vtab.TASKS["kitti_distance"]
    with pytest.raises(BenchError) as err:
        vtab.task("cifar")
    assert all(tid in str(err.value) for tid in TABLE9)
    assert "cifar100" in str(err.value)


def test_manual_download_flags():
    manual = {tid for tid, t in vtab.TASKS.items() if t.manual}
    assert manual == {"resisc45", "diabetic_retinopathy"}
    assert "NWPU-RESISC45" in vtab.TASKS["resisc45"].manual
    assert "trainLabels.csv" in vtab.TASKS["diabetic_retinopathy"].manual


def test_builders_and_configs_exist_in_tfds():
    import tensorflow_datasets as tfds

    names = set(tfds.list_builders(with_community_datasets=False))
    for t in vtab.TASKS.values():
        name, _, config = t.builder.partition("/")
        assert name in names, t.id
        if config:
            assert config in {c.name for c in tfds.builder_cls(name).BUILDER_CONFIGS}, t.id


def test_version_pins_resolve_in_installed_tfds_except_pets_which_builds_4():
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.utils import Version

    unresolved = set()
    for t in vtab.TASKS.values():
        name, _, config = t.builder.partition("/")
        cls = tfds.builder_cls(name)
        if config:
            cfg = next(c for c in cls.BUILDER_CONFIGS if c.name == config)
            versions = [cfg.version, *(cfg.supported_versions or [])]
        else:
            versions = [cls.VERSION, *(getattr(cls, "SUPPORTED_VERSIONS", None) or [])]
        if not any(Version(str(v)).match(t.version) for v in versions if v is not None):
            unresolved.add(t.id)
        built = t.tfds_name.partition(":")[2]
        assert any(Version(str(v)).match(built) for v in versions if v is not None), t.id
    # TA pins oxford_iiit_pet:3.*.*; TFDS 4.9.10 only has 4.0.0. Fail loudly if that changes either way.
    assert unresolved == {"oxford_iiit_pet"}
    assert vtab.TASKS["oxford_iiit_pet"].tfds_name == "oxford_iiit_pet:4.*.*"


def split_sizes(tid: str) -> dict:
    """SplitInfos with TA's sizes where a slice depends on them; 10**6 where only the split name matters."""
    from tensorflow_datasets.core.splits import SplitInfo

    sizes = {"train": TRAIN_SIZE.get(tid, 10**6), "validation": 10**6,
             "test": 24300 if tid.startswith("smallnorb") else 10**6}
    return {k: SplitInfo(name=k, shard_lengths=[n], num_bytes=0) for k, n in sizes.items()}


@pytest.mark.parametrize("tid", TABLE9)
def test_splits_match_ta_and_are_disjoint(tid):
    import tensorflow_datasets as tfds

    splits = dict(vtab.TASKS[tid].splits)
    assert splits == expected_splits(tid)
    infos = split_sizes(tid)

    def ranges(key: str) -> list[tuple[str, int, int]]:  # (split, start, stop), None bounds made explicit
        instrs = tfds.core.ReadInstruction.from_spec(splits[key]).to_absolute(infos)
        return [(a.splitname, a.from_ or 0, infos[a.splitname].num_examples if a.to is None else a.to)
                for a in instrs]

    def overlap(xs, ys) -> bool:
        return any(s1 == s2 and max(a1, a2) < min(b1, b2) for s1, a1, b1 in xs for s2, a2, b2 in ys)

    absolute = {k: ranges(k) for k in splits}
    assert absolute["train800"] == [("train", 0, 800)]
    (val,) = absolute["val200"]
    assert val[2] - val[1] == 200
    assert absolute["train800val200"] == absolute["train800"] + absolute["val200"]
    assert not overlap(absolute["train800"], absolute["val200"])
    assert not overlap(absolute["train800val200"], absolute["test"])
    if tid.startswith("smallnorb"):  # val200 = head of TFDS test, test = its second half (12,150 from 12,150)
        assert absolute["test"] == [("test", 12150, 24300)]


def test_splits_are_read_only():
    with pytest.raises(TypeError):
        vtab.TASKS["dtd"].splits["test"] = "train"  # type: ignore[index]


# ---- labels -------------------------------------------------------------------------------------


def lab(tid, ex):
    return vtab.TASKS[tid].label(ex)


@pytest.mark.parametrize("tid", ["caltech101", "cifar100", "dtd", "oxford_flowers102", "oxford_iiit_pet",
                                 "sun397", "svhn", "patch_camelyon", "eurosat", "resisc45",
                                 "diabetic_retinopathy", "dmlab"])
def test_plain_label(tid):
    assert lab(tid, {"image": np.zeros((2, 2, 3), np.uint8), "label": np.int64(CLASSES[tid] - 1)}) == CLASSES[tid] - 1


def test_smallnorb_attributes():
    ex = {"label_azimuth": np.int64(17), "label_elevation": np.int64(8), "label_category": np.int64(3)}
    assert lab("smallnorb_azimuth", ex) == 17
    assert lab("smallnorb_elevation", ex) == 8


def test_dsprites_location_bins():
    # dsprites.py: floordiv(x, 32 / 16 = 2.0)
    got = [lab("dsprites_location", {"label_x_position": np.int64(x)}) for x in range(32)]
    assert got == [x * 16 // 32 for x in range(32)]
    assert got[:4] == [0, 0, 1, 1] and got[-1] == 15


def test_dsprites_orientation_bins():
    # dsprites.py: floordiv(o, 40 / 16 = 2.5): bins of 3, 2, 3, 2, ... values
    got = [lab("dsprites_orientation", {"label_orientation": np.int64(o)}) for o in range(40)]
    assert got == [o * 16 // 40 for o in range(40)]
    assert got[:8] == [0, 0, 0, 1, 1, 2, 2, 2] and got[38:] == [15, 15]
    assert sorted(set(got)) == list(range(16))


def clevr(depths):
    n = len(depths)
    return {"objects": {"size": [np.int64(0)] * n,
                        "pixel_coords": [np.array([10.0, 20.0, d], np.float32) for d in depths]}}


def test_clevr_count():
    for n in range(3, 11):
        assert lab("clevr_count", clevr([9.0] * n)) == n - 3
    for n in (0, 2, 11):
        with pytest.raises(ValueError):
            lab("clevr_count", clevr([9.0] * n))


def clevr_bin(d):
    """Index of the last threshold strictly below d, thresholds from clevr.py."""
    return sum(t < d for t in (0.0, 8.0, 8.5, 9.0, 9.5, 10.0, 100.0)) - 1


@pytest.mark.parametrize("d,want", [(0.1, 0), (7.0, 0), (8.0, 0), (8.01, 1), (8.5, 1), (8.75, 2), (9.0, 2),
                                    (9.25, 3), (9.5, 3), (9.75, 4), (10.0, 4), (10.01, 5), (99.0, 5), (100.0, 5)])
def test_clevr_distance_bins(d, want):
    assert clevr_bin(d) == want
    assert lab("clevr_distance", clevr([12.0, d, 50.0])) == want  # the closest object decides


@pytest.mark.parametrize("depths", [[], [0.0], [-1.0], [100.5]])
def test_clevr_distance_outside_bins(depths):
    with pytest.raises(ValueError):  # TA would emit int64-min or class 6 of 6
        lab("clevr_distance", clevr(depths))


CAR, VAN, TRUCK, PEDESTRIAN, CYCLIST = 0, 1, 2, 3, 5


def kitti(objs):
    return {"objects": {"type": [np.int64(t) for t, _ in objs],
                        "location": [np.array([1.0, 1.5, z], np.float32) for _, z in objs]}}


def kitti_bin(z):
    return sum(t < z for t in (-100.0, 8.0, 20.0, 999.0)) - 1


@pytest.mark.parametrize("objs,want", [
    ([(CAR, 5.0)], 0), ([(VAN, 8.0)], 0), ([(TRUCK, 8.01)], 1), ([(CAR, 20.0)], 1), ([(CAR, 20.01)], 2),
    ([(CAR, 999.0)], 2), ([(CAR, 999.5)], 3), ([(CAR, 1500.0)], 3), ([(CAR, -3.0)], 0),
    ([], 3), ([(PEDESTRIAN, 3.0), (CYCLIST, 4.0)], 3),  # no vehicle
    ([(PEDESTRIAN, 2.0), (CAR, 25.0), (VAN, 12.0)], 1),  # pedestrians ignored; closest vehicle wins
])
def test_kitti_closest_vehicle_distance(objs, want):
    vehicles = [z for t, z in objs if t < 3] + [1000.0]
    assert kitti_bin(min(vehicles)) == want
    assert lab("kitti_distance", kitti(objs)) == want


def test_labels_on_examples_decoded_by_tfds(tmp_path):
    """Round-trip through the real TFDS `objects` features, decoded as tfds.data_source does (lists, not arrays).

    The image is left out: encoding one would import TensorFlow (seconds); the labels never read it.
    """
    import tensorflow_datasets as tfds

    def roundtrip(spec: str, objects: dict) -> dict:
        full = tfds.builder(spec, data_dir=str(tmp_path)).info.features
        feats = tfds.features.FeaturesDict({"objects": full["objects"]})
        return feats.deserialize_example_np(feats.serialize_example({"objects": objects}))

    obj = {"type": [PEDESTRIAN, VAN, CAR], "truncated": [0.0] * 3, "occluded": [0] * 3, "alpha": [0.0] * 3,
           "bbox": [tfds.features.BBox(0.0, 0.0, 1.0, 1.0)] * 3, "dimensions": [[1.0, 1.0, 1.0]] * 3,
           "location": [[0.0, 0.0, 1.0], [0.0, 0.0, 30.0], [2.0, 0.0, 15.0]], "rotation_y": [0.0] * 3}
    ex = roundtrip("kitti:3.1.0", obj)
    assert isinstance(ex["objects"]["location"], list)
    assert lab("kitti_distance", ex) == 1
    assert lab("kitti_distance", roundtrip("kitti:3.1.0", {k: [] for k in obj})) == 3

    n = 4
    obj = {"color": [0] * n, "material": [0] * n, "shape": [0] * n, "size": [1] * n, "rotation": [0.0] * n,
           "3d_coords": [[0.0, 0.0, 0.0]] * n, "pixel_coords": [[1.0, 1.0, d] for d in (11.0, 9.7, 12.0, 10.5)]}
    ex = roundtrip("clevr:3.1.0", obj)
    assert lab("clevr_count", ex) == 1
    assert lab("clevr_distance", ex) == 4
    assert math.isclose(float(np.min([p[2] for p in ex["objects"]["pixel_coords"]])), 9.7, rel_tol=1e-6)
