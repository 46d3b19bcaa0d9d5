"""A synthetic JPEG dataset for measuring the input pipeline (benchmarks/train_step.py).

512 deterministic 500x375 JPEG photographs-in-shape (smooth colour gradients
plus noise, about the size and entropy of Pets / ImageNet images), 10 classes.
Built like any TFDS dataset into array_record and read through
`tfds.data_source`, so the benchmark times the same decode and transform path
as the paper suites. Needs TensorFlow to build (the `paper` extra).
"""

from __future__ import annotations

import io

import numpy as np
import tensorflow_datasets as tfds

N_IMAGES, WIDTH, HEIGHT = 512, 500, 375


def _jpeg(i: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(i)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    base = rng.uniform(0, 255, size=(3, 1, 1)) + rng.uniform(-0.3, 0.3, size=(3, 1, 1)) * (xx + yy)[None]
    pixels = np.clip(base + rng.normal(0, 12, size=(3, HEIGHT, WIDTH)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels.transpose(1, 2, 0)).save(out, format="JPEG", quality=90)
    return out.getvalue()


class SyntheticJpeg(tfds.core.GeneratorBasedBuilder):
    """512 synthetic 500x375 JPEG images in 10 classes (split `train`)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(HEIGHT, WIDTH, 3), encoding_format="jpeg"),
                "label": tfds.features.ClassLabel(num_classes=10),
            }),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # generated: nothing to download
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(N_IMAGES):
            yield i, {"image": _jpeg(i), "label": i % 10}
