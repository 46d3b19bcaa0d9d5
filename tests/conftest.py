"""Shared fixtures: the repository root, and the embedded digits prepared once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    """sklearn_digits built by the real TFDS builder into a temporary data_dir."""
    import tensorflow_datasets as tfds

    import bench.data  # noqa: F401

    data_dir = tmp_path_factory.mktemp("tfds")
    tfds.builder("sklearn_digits", data_dir=str(data_dir), file_format="array_record").download_and_prepare()
    return data_dir


def tiny_plan(**recipe_overrides) -> dict:
    """A 5-step ViT plan on digits, for fast loop tests."""
    recipe = {
        "optimizer": {"name": "adamw", "lr": 0.003, "weight_decay": 0.05, "momentum": 0.9, "nesterov": False,
                      "sam": None},
        "schedule": {"name": "cosine", "warmup_steps": 2}, "steps": 5, "batch_size": 32, "accum_steps": 1,
        "eval_batch_size": 256, "resolution": 8, "grad_clip": 1.0, "label_smoothing": 0.0,
        "augmentation": {"shift": 1, "hflip": False},
    }
    recipe.update(recipe_overrides)
    return {
        "entry": "tiny", "table": "t", "model": "vit_tiny_patch16_224",
        "model_kwargs": {"img_size": 8, "patch_size": 4, "embed_dim": 16, "depth": 1, "num_heads": 2},
        "checkpoint": None,
        "dataset": {"name": "sklearn_digits", "train_split": "train", "test_split": "test", "label_noise": 0.0,
                    "noise_seed": 0},
        "recipe": recipe,
    }
