"""Datasets: this project's TFDS builders, the data specs and the two input paths (ops: bench.pp).

Importing the package is free; `bench.data.builders.register()` imports the
project's TFDS builders (TensorFlow Datasets itself) when a dataset is read or built.
"""
