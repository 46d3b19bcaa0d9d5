"""The embedded dataset: scikit-learn's handwritten digits as a TFDS dataset.

scikit-learn ships 1,797 real 8x8 grey-level digits (the UCI "Optical
Recognition of Handwritten Digits" test set, pixel values 0..16). This builder
writes them to array_record like any TFDS dataset, so the embedded suite reads
its data through the same `tfds.data_source` path as the paper datasets.

Split (fixed, documented in the README): the 1,797 examples are permuted with
`numpy.random.default_rng(SPLIT_SEED)`; the first 1,347 form `train`, the last
450 (25%) form `test`. Pixels are stored as uint8 scaled from 0..16 to 0..255
(`round(v * 255 / 16)`), one channel.

Build it with `bench prepare` (the DVC `prepare` stage).
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

SPLIT_SEED = 20240501
N_TEST = 450


def _examples() -> tuple[np.ndarray, np.ndarray]:
    """All digits as (uint8 images NHWC, int64 labels), in the fixed split order."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = np.rint(raw.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    return images[order], raw.target[order].astype(np.int64)


class SklearnDigits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's 8x8 handwritten digits, split 1,347 train / 450 test."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: fixed 1,347/450 split."}

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(8, 8, 1), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(num_classes=10),
                    "index": tfds.features.Scalar(dtype=np.int64),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # the data ship inside scikit-learn: nothing to download
        n_train = len(_examples()[0]) - N_TEST
        return {
            "train": self._generate_examples(0, n_train),
            "test": self._generate_examples(n_train, None),
        }

    def _generate_examples(self, start: int, stop: int | None):
        images, labels = _examples()
        for i in range(start, len(images) if stop is None else stop):
            yield i, {"image": images[i], "label": int(labels[i]), "index": i}
