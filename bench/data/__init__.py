"""Datasets: TFDS builders of this project and the loaders that feed training.

Importing this package registers the project's own TFDS builders (so that
`tfds.builder("sklearn_digits")` and `tfds.data_source` find them).
"""

from bench.data import digits  # noqa: F401  (registers the builder)
from bench.data import aircraft, birdsnap, synthetic  # noqa: F401
