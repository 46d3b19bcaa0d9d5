"""bench: a reproducibility harness for image-classification paper tables."""

__version__ = "0.1.0"
