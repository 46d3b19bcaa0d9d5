"""Paper datasets end to end, offline: source files -> prepare -> loading -> one training step.

For each dataset family the source files are written in their real layout
(tests/dummy_sources.py, and the official FGVC-Aircraft / Birdsnap layouts),
built by the real builders into array_record, read through `tfds.data_source`
by the streaming loader, and fed to one step of the training loop with a tiny
ViT; then evaluated. ImageNet also gets its ReaL evaluation (multi-label).
"""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import as_plan, tiny_plan
from dummy_sources import EXPECTED, prepare_from_dummy

from bench.data.loader import Feed
from bench.train.evaluate import evaluate
from bench.train.loop import RunConfig, train

TINY_VIT = {"img_size": 16, "patch_size": 8, "embed_dim": 16, "depth": 1, "num_heads": 2}

FAMILIES = {  # TFDS name -> (train split, test split, extra dataset fields)
    "cifar10": ("train", "test", {}),
    "cifar100": ("train", "test", {}),
    "oxford_iiit_pet": ("train", "test", {}),
    "oxford_flowers102": ("train+validation", "test", {}),
    "food101": ("train", "validation", {}),
    "cars196": ("train", "test", {}),
    "svhn_cropped": ("train", "test", {}),
    "dtd": ("train", "test", {}),
    "eurosat/rgb": ("train[:2]", "train[2:]", {}),
}


def paper_plan(name: str, train_split: str, test_split: str, **dataset) -> dict:
    """A tiny ViT with a paper recipe's data path: inception crop, flip, zero head, streaming loader."""
    plan = tiny_plan(steps=1, batch_size=2, eval_batch_size=2, resolution=16,
                     preprocess={"train": "inception_crop(16)|flip_lr|normalize(vit)", "eval": "resize(16)|normalize(vit)"},
                     head="zeros")
    plan["model_kwargs"] = dict(TINY_VIT)
    plan["dataset"] = {"name": name, "train_split": train_split, "test_split": test_split, "label_noise": 0.0,
                       "noise_seed": 0, "extra_eval": [], **dataset}
    return plan


def _count(name: str, split: str) -> int:
    return sum(len(EXPECTED[name][s]) for s in split.split("+"))


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_prepare_load_and_train_one_step(name, tmp_path):
    data_dir = tmp_path / "tfds"
    prepare_from_dummy(name, data_dir, tmp_path)
    train_split, test_split, extra = FAMILIES[name]
    metrics, state = train(as_plan(paper_plan(name, train_split, test_split, **extra)), 0, data_dir, RunConfig("cpu", progress=False))
    assert metrics["status"] == "ok" and metrics["steps"] == 1
    expected_test = 2 if name == "eurosat/rgb" else _count(name, test_split)
    assert metrics["test_examples"] == expected_test
    assert 0.0 <= metrics["top1"] <= 100.0
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_imagenet_with_real_labels(tmp_path):
    """ImageNet fine-tuning data plus the ReaL evaluation of the same model (extra_eval)."""
    data_dir = tmp_path / "tfds"
    prepare_from_dummy("imagenet2012", data_dir, tmp_path / "in")
    prepare_from_dummy("imagenet2012_real", data_dir, tmp_path / "real")
    plan = paper_plan("imagenet2012", "train", "validation",
                      extra_eval=[{"name": "imagenet2012_real", "split": "validation", "key": "real_top1"}])
    metrics, _ = train(as_plan(plan), 0, data_dir, RunConfig("cpu", progress=False))
    assert metrics["test_examples"] == 4
    assert 0.0 <= metrics["real_top1"] <= 100.0
    assert metrics["real_top1_err"] == pytest.approx(100.0 - metrics["real_top1"])


def test_vtab_task_reads_with_its_label_rule(tmp_path):
    """A VTAB task goes through the registry's label rule (dtd: the plain label)."""
    data_dir = tmp_path / "tfds"
    prepare_from_dummy("dtd", data_dir, tmp_path)
    plan = paper_plan("dtd:3.*.*", "train+validation", "test", vtab="dtd")
    metrics, _ = train(as_plan(plan), 0, data_dir, RunConfig("cpu", progress=False))
    assert metrics["train_examples"] == 4 and metrics["test_examples"] == 3


@pytest.mark.parametrize("name", ["fgvc_aircraft", "birdsnap"])
def test_own_builders_prepare_through_bench_prepare(name, tmp_path):
    """FGVC-Aircraft and Birdsnap: the user's folder in the official layout -> bench prepare -> one step."""
    from test_fgvc_builders import _fake_aircraft, _fake_birdsnap

    from bench.data.prepare import prepare_one

    manual_root = tmp_path / "manual"
    (_fake_aircraft if name == "fgvc_aircraft" else _fake_birdsnap)(manual_root / name)
    record = prepare_one(name, tmp_path / "tfds", manual_root)
    assert record["status"] == "ok", record
    train_split = "trainval" if name == "fgvc_aircraft" else "train"
    metrics, _ = train(as_plan(paper_plan(name, train_split, "test")), 0, tmp_path / "tfds", RunConfig("cpu", progress=False))
    assert metrics["train_examples"] == record["splits"][train_split]
    assert metrics["test_examples"] == record["splits"]["test"]


def test_missing_manual_download_is_recorded_not_raised(tmp_path):
    from bench.data.prepare import prepare_one

    record = prepare_one("imagenet2012", tmp_path / "tfds", tmp_path / "manual")
    assert record["status"] == "unavailable"
    assert str(tmp_path / "manual" / "imagenet2012") in record["reason"]
    assert "ILSVRC2012_img_train.tar" in record["reason"] and "dvc repro --force prepare" in record["reason"]


def test_failed_download_is_recorded_not_raised(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    from bench.data.prepare import prepare_one

    def offline(self, *args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(tfds.download.DownloadManager, "download", offline)
    monkeypatch.setattr(tfds.download.DownloadManager, "download_and_extract", offline)
    record = prepare_one("cars196", tmp_path / "tfds", tmp_path / "manual")
    assert record["status"] == "unavailable"
    assert "ConnectionError: no route to host" in record["reason"] and "manual_dir" in record["reason"]


class _Fixed(torch.nn.Module):
    """Predicts class i for the i-th image of a batch."""

    def forward(self, x):
        return torch.eye(4)[: len(x)] * 10


def test_real_accuracy_counts_only_images_with_labels():
    # images 0..3 predicted as classes 0..3; ReaL sets: {0}, {5}, {2, 3}, {} (no label: not counted)
    hot = torch.zeros(4, 6, dtype=torch.bool)
    hot[0, 0] = hot[1, 5] = hot[2, 2] = hot[2, 3] = True
    feed = Feed(iter([(torch.zeros(4, 3, 2, 2), hot)]), 4, 6, 3)
    top1, top5 = evaluate(_Fixed(), feed)
    assert top1 == pytest.approx(100.0 * 2 / 3) and top5 is None  # 4 classes: top-5 says nothing


def test_single_label_accuracy():
    feed = Feed(iter([(torch.zeros(4, 3, 2, 2), torch.tensor([0, 1, 0, 3]))]), 4, 4, 3)
    assert evaluate(_Fixed(), copy.copy(feed)) == (pytest.approx(75.0), None)


class _Ranked(torch.nn.Module):
    """10 classes; image i ranks class (i + k) % 10 k-th (k = 0 first)."""

    def forward(self, x):
        n = len(x)
        logits = torch.zeros(n, 10)
        for i in range(n):
            for k in range(10):
                logits[i, (i + k) % 10] = 10.0 - k
        return logits


def test_top5_accuracy_single_label_and_label_sets():
    # labels at rank 0, 4, 5 and 9: top-1 1/4, top-5 2/4
    y = torch.tensor([0, (1 + 4) % 10, (2 + 5) % 10, (3 + 9) % 10])
    assert evaluate(_Ranked(), Feed(iter([(torch.zeros(4, 3, 2, 2), y)]), 4, 10, 3)) == (25.0, 50.0)
    # ReaL-style sets: {rank 3, rank 7} (in top-5), {rank 6} (not), {} (not counted)
    hot = torch.zeros(3, 10, dtype=torch.bool)
    hot[0, 3] = hot[0, 7] = True
    hot[1, (1 + 6) % 10] = True
    top1, top5 = evaluate(_Ranked(), Feed(iter([(torch.zeros(3, 3, 2, 2), hot)]), 3, 10, 3))
    assert (top1, top5) == (0.0, 50.0)
