"""Datasets: this project's TFDS builders, the data specs, preprocessing ops and the two input paths.

Importing the package is free; `bench.data.builders.register()` imports the
project's TFDS builders (TensorFlow Datasets itself) when a dataset is read or built.
"""
