"""This project's TFDS builders: importing their modules registers them with TFDS.

`register()` is called wherever a dataset is built or read (`bench prepare`,
the loaders, `bench validate`), so that reading a table file never imports TFDS.
"""

from __future__ import annotations


# Builders whose data ship with the installed packages (scikit-learn's digits, generated images): they need
# no network, and building them says so instead of TFDS's "Downloading ... Unknown size".
LOCAL = ("sklearn_digits", "synthetic_jpeg")


def register() -> None:
    """Make `tfds.builder("sklearn_digits")`, `"fgvc_aircraft"`, `"birdsnap"`... resolvable."""
    from bench.data import aircraft, birdsnap, digits, synthetic  # noqa: F401
