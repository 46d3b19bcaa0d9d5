"""Shared fixtures: the repository root, and the embedded digits prepared once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm  # noqa: F401  (torch and torchvision before TensorFlow: the other order segfaults on import)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    """sklearn_digits built by the real TFDS builder into a temporary data_dir."""
    import tensorflow_datasets as tfds

    from bench.data.builders import register

    register()

    data_dir = tmp_path_factory.mktemp("tfds")
    tfds.builder("sklearn_digits", data_dir=str(data_dir), file_format="array_record").download_and_prepare()
    return data_dir


# The protocol fields of the minimal recipes the tests write (bench.tables.protocol), each with a source.
PROTOCOL_FIELDS = ("model", "checkpoint", "optimizer.name", "optimizer.lr", "optimizer.weight_decay",
                   "optimizer.momentum", "optimizer.nesterov", "optimizer.sam", "select", "schedule.name",
                   "schedule.warmup_steps", "steps", "batch_size", "accum_steps", "resolution", "grad_clip",
                   "label_smoothing", "preprocess.train", "preprocess.eval", "ema", "mix", "head", "freeze_bn",
                   "weight_decay_mode", "pos_embed_resample", "dataset.train_split", "dataset.test_split")
PREPROCESS = "preprocess: {train: normalize(vit)|resize(8), eval: normalize(vit)|resize(8)}"


def sources_block(indent: str = "", fields=PROTOCOL_FIELDS) -> str:
    """A table file's `sources:` for the tests' minimal recipes."""
    return f"{indent}sources:\n" + "".join(f'{indent}  {f}: "choice: a test table"\n' for f in fields)


def as_plan(plan):
    """A typed plan from its JSON form (what tests edit), or the plan itself."""
    from bench.tables.recipe import Plan

    return plan if isinstance(plan, Plan) else Plan.from_json(plan)


def tiny_plan(**recipe_overrides) -> dict:
    """A 5-step ViT plan on digits, for fast loop tests, in its JSON form (a plan file's)."""
    from bench.tables.recipe import parse_recipe
    from bench.tables.schema import Checker, to_json

    raw = {"optimizer": {"name": "adamw", "lr": 0.003, "weight_decay": 0.05},
           "schedule": {"name": "cosine", "warmup_steps": 2}, "steps": 5, "batch_size": 32,
           "eval_batch_size": 256, "resolution": 8, "grad_clip": 1.0,
           "preprocess": {"train": "normalize(vit)|pad_crop(1, edge)|resize(8)", "eval": "normalize(vit)|resize(8)"}}
    recipe = to_json(parse_recipe(Checker("tiny"), raw, "recipe"))  # every field with the schema's defaults
    recipe.update(recipe_overrides)
    return {
        "entry": "tiny", "table": "t", "model": "vit_tiny_patch16_224",
        "model_kwargs": {"img_size": 8, "patch_size": 4, "embed_dim": 16, "depth": 1, "num_heads": 2},
        "checkpoint": None,
        "dataset": {"name": "sklearn_digits", "train_split": "train", "test_split": "test", "label_noise": 0.0,
                    "noise_seed": 0, "extra_eval": []},
        "recipe": recipe,
    }


def copy_repo(dst: Path, skip: tuple[str, ...] = ("runs/", "results/", "reports/", "select/", "dvc.lock")) -> Path:
    """The repository's files (tracked and new, not ignored) copied to `dst`, as a fresh git repository."""
    import shutil
    import subprocess

    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files + [".dvc/config"]:
        src = ROOT / name
        if src.is_file() and not name.startswith(skip):
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q"], cwd=dst, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dst, check=True)
    subprocess.run(["git", "commit", "-qm", "copy"], cwd=dst, check=True, env={**env, "PATH": "/usr/bin:/bin"})
    return dst
