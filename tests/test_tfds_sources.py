"""The real TFDS builders of the paper datasets, prepared offline from dummy files in their source format.

Each case writes a few tiny images in the layout the builder downloads (see
tests/dummy_sources.py), runs the builder's own download_and_prepare into
array_record with the downloads patched, and reads every split back through
`tfds.data_source`, as bench/data/loader.py does.
"""

from __future__ import annotations

import numpy as np
import pytest

from dummy_sources import EXPECTED, FEATURES, SHAPES, WRITERS, prepare_from_dummy


def _as_value(feature, value):
    """Class names (how the sources give labels) -> indices; sequences -> tuples."""
    if isinstance(value, str):
        return feature.str2int(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(int(v) for v in value)
    return int(value)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_builder_prepares_from_source_format(name, tmp_path):
    import tensorflow_datasets as tfds

    data_dir = tmp_path / "tfds"
    builder = prepare_from_dummy(name, data_dir, tmp_path)
    assert builder.is_prepared()
    assert set(builder.info.splits) == set(EXPECTED[name])
    image_key = "image"  # every builder here; dtd declares no supervised_keys
    features = builder.info.features
    for split, expected in EXPECTED[name].items():
        source = tfds.data_source(name, split=split, data_dir=str(data_dir))
        assert len(source) == len(expected) == builder.info.splits[split].num_examples, split
        records = [source[i] for i in range(len(source))]
        for r in records:
            assert r[image_key].dtype == np.uint8 and r[image_key].shape == SHAPES[name], (split, r[image_key].shape)
        got = sorted(tuple(_as_value(features[f], r[f]) for f in FEATURES[name]) for r in records)
        want = sorted(tuple(_as_value(features[f], v) for f, v in zip(FEATURES[name], e)) for e in expected)
        assert got == want, split


def test_imagenet2012_real_keeps_empty_real_label(tmp_path):
    import tensorflow_datasets as tfds

    data_dir = tmp_path / "tfds"
    prepare_from_dummy("imagenet2012_real", data_dir, tmp_path)
    source = tfds.data_source("imagenet2012_real", split="validation", data_dir=str(data_dir))
    by_name = {r["file_name"].decode(): r for r in (source[i] for i in range(len(source)))}
    assert set(by_name) == {f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 5)}
    # data_source decodes a Sequence(ClassLabel) as a Python list of np.int64, not an array.
    assert [int(v) for v in by_name["ILSVRC2012_val_00000002.JPEG"]["real_label"]] == [970, 795]
    assert list(by_name["ILSVRC2012_val_00000004.JPEG"]["real_label"]) == []
    assert int(by_name["ILSVRC2012_val_00000004.JPEG"]["original_label"]) >= 0  # the ImageNet label is kept
