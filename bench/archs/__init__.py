"""Architectures the papers use that timm lacks, registered with timm (importing this package registers them)."""

from bench.archs import cifar  # noqa: F401  (registers the CIFAR models)
