"""The training loop on the embedded digits: data path, determinism, failure, checkpoints."""

import math

import pytest
import torch

from bench.data.memory import add_label_noise, load_split
from bench.pp.ops.normalize import Normalize
from bench.pp.ops.pad_crop import PadCrop
from bench.pp.grammar import Pipeline
from bench.data.spec import data_spec
from bench.errors import BenchError
from bench.train.models import create_model
from bench.train.loop import RunConfig, TrainingDiverged, train
from bench.train.optim import lr_factor
from conftest import tiny_plan, as_plan


def test_digits_split_through_tfds_data_source(digits_dir):
    spec = data_spec("sklearn_digits", digits_dir)
    train_split = load_split(spec, "train", digits_dir)
    test_split = load_split(spec, "test", digits_dir)
    assert len(train_split.labels) == 1347 and len(test_split.labels) == 450
    assert train_split.images.shape[1:] == (1, 8, 8) and train_split.images.dtype == torch.uint8
    assert train_split.num_classes == 10
    assert set(train_split.labels.tolist()) == set(range(10))
    # the same 8x8 digits as scikit-learn ships, scaled 0..16 -> 0..255
    from sklearn.datasets import load_digits
    raw = load_digits()
    assert int(train_split.images.max()) == 255
    assert len(train_split.labels) + len(test_split.labels) == len(raw.target)


def test_unprepared_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(BenchError, match="not prepared.*bench prepare"):
        data_spec("sklearn_digits", tmp_path)


def test_label_noise_is_fixed_and_exact():
    labels = torch.arange(100) % 10
    a = add_label_noise(labels, 10, 0.2, noise_seed=0)
    b = add_label_noise(labels, 10, 0.2, noise_seed=0)
    assert torch.equal(a, b)
    assert int((a != labels).sum()) == 20  # every chosen label really changes class


def test_pad_crop_is_a_translation():
    img = torch.arange(16, dtype=torch.uint8).reshape(1, 1, 4, 4) * 10
    x0 = Pipeline((Normalize(),)).batch(img)
    assert torch.allclose(x0, (img.float() - 127.5) / 127.5)
    g = torch.Generator().manual_seed(0)
    x = Pipeline((Normalize(), PadCrop(1, "edge"))).batch(img.repeat(50, 1, 1, 1), g)
    # each output is the input shifted by at most one pixel, edges replicated
    padded = torch.nn.functional.pad(x0, (1, 1, 1, 1), mode="replicate")[0, 0]
    windows = {tuple(padded[dy:dy + 4, dx:dx + 4].flatten().tolist()) for dy in range(3) for dx in range(3)}
    assert all(tuple(xi[0].flatten().tolist()) in windows for xi in x)


def test_lr_schedule():
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, "cosine") == pytest.approx(0.5)
    assert lr_factor(99, 100, 10, "constant") == 1.0


def test_same_seed_same_numbers(digits_dir):
    a, sa = train(as_plan(tiny_plan()), 3, digits_dir, RunConfig(progress=False))
    b, sb = train(as_plan(tiny_plan()), 3, digits_dir, RunConfig(progress=False))
    c, _ = train(as_plan(tiny_plan()), 4, digits_dir, RunConfig(progress=False))
    assert a["top1"] == b["top1"] and a["train_loss"] == b["train_loss"]
    for k in sa:
        assert torch.equal(sa[k], sb[k])
    assert c["train_loss"] != a["train_loss"]


def test_metrics_have_provenance(digits_dir):
    m, _ = train(as_plan(tiny_plan()), 0, digits_dir, RunConfig(progress=False))
    for key in ("git_commit", "packages", "device", "device_name", "seed", "steps", "wall_time_s", "images_per_s"):
        assert key in m
    assert m["packages"]["torch"] == torch.__version__.split("+")[0] or m["packages"]["torch"]
    assert m["top1"] + m["top1_err"] == pytest.approx(100.0)
    assert m["test_examples"] == 450


def test_sam_recipe_trains(digits_dir):
    sam = tiny_plan()
    sam["recipe"]["optimizer"] = {**sam["recipe"]["optimizer"], "name": "sgd", "lr": 0.05,
                                  "sam": {"rho": 0.05, "adaptive": False}}
    m, _ = train(as_plan(sam), 0, digits_dir, RunConfig(progress=False))
    assert 0 <= m["top1"] <= 100 and math.isfinite(m["train_loss"])


def test_divergence_is_a_failure_not_a_number(digits_dir, monkeypatch):
    import bench.train.loop as loop

    real = loop.sgd_step

    def nan_at_step_3(*args, **kwargs):
        loss = real(*args, **kwargs)
        nan_at_step_3.calls += 1
        return loss * float("nan") if nan_at_step_3.calls == 4 else loss

    nan_at_step_3.calls = 0
    monkeypatch.setattr(loop, "sgd_step", nan_at_step_3)
    plan = tiny_plan(steps=25)
    with pytest.raises(TrainingDiverged, match="not finite .* from step 3") as info:
        train(as_plan(plan), 0, digits_dir, RunConfig(progress=False))  # looked at on step 10, reported from where it began
    assert info.value.step == 3



def test_local_checkpoint_goes_through_timm_loader(tmp_path):
    src = create_model("vit_tiny_patch16_224", 10, 1, {"img_size": 8, "patch_size": 4, "embed_dim": 16,
                                                       "depth": 1, "num_heads": 2})
    torch.save(src.state_dict(), tmp_path / "ckpt.pth")
    loaded = create_model("vit_tiny_patch16_224", 10, 1, {"img_size": 8, "patch_size": 4, "embed_dim": 16,
                                                          "depth": 1, "num_heads": 2},
                          checkpoint={"file": "ckpt.pth"}, root=tmp_path)
    # timm's loader keeps every backbone weight and re-initialises the classifier head
    # (the checkpoint's head is for the 1000 classes of its pretrained config), as fine-tuning does
    for k, v in src.state_dict().items():
        if not k.startswith("head."):
            assert torch.equal(v, loaded.state_dict()[k]), k


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(BenchError, match="does not exist"):
        create_model("vit_tiny_patch16_224", 10, 1, {}, checkpoint={"file": "nope.pth"}, root=tmp_path)


def test_a_run_is_dirty_only_when_its_inputs_changed(tmp_path, monkeypatch):
    """dvc repro rewrites runs/ and dvc.lock as it goes: those must not mark later runs' code as dirty."""
    import subprocess

    from bench import provenance

    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin"}
    for name in ("bench/x.py", "runs/e/0/metrics.json", "dvc.lock"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("a")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "c"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, env=env)
    monkeypatch.chdir(tmp_path / "runs")
    (tmp_path / "runs/e/0/metrics.json").write_text("b")
    (tmp_path / "dvc.lock").write_text("b")
    provenance.git_commit.cache_clear()
    assert not provenance.git_commit().endswith("+dirty")
    (tmp_path / "bench/x.py").write_text("b")
    provenance.git_commit.cache_clear()
    assert provenance.git_commit().endswith("+dirty")
    provenance.git_commit.cache_clear()


def test_mixup_at_probability_zero_is_the_unmixed_run_with_its_label_smoothing(digits_dir):
    """timm's Mixup puts the label smoothing into soft targets; unmixed batches must then train exactly as
    the recipe's own label smoothing does (the loss skips its smoothing for soft targets)."""
    plain = tiny_plan(label_smoothing=0.1)
    mixed = tiny_plan(label_smoothing=0.1, mix={"mixup_alpha": 0.8, "cutmix_alpha": 0.0, "prob": 0.0,
                                                "switch_prob": 0.5})
    a, sa = train(as_plan(plain), 0, digits_dir, RunConfig(progress=False))
    b, sb = train(as_plan(mixed), 0, digits_dir, RunConfig(progress=False))
    assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-4, atol=2e-5)  # float rounding, amplified by AdamW
    on = tiny_plan(label_smoothing=0.1, mix={"mixup_alpha": 0.8, "cutmix_alpha": 1.0, "prob": 1.0,
                                             "switch_prob": 0.5})
    on["recipe"]["optimizer"] = {**on["recipe"]["optimizer"], "name": "sgd", "lr": 0.05, "sam": {"rho": 0.05, "m": 8}}
    c, sc = train(as_plan(on), 0, digits_dir, RunConfig(progress=False))  # with SAM's m-chunks of soft targets
    assert math.isfinite(c["train_loss"]) and not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("mix, message", [({"mixup_alpha": 0.0}, "set mixup_alpha or cutmix_alpha"),
                                          ({"mixup_alpha": 0.2, "batch": 33}, "batch_size must be even")])
def test_a_mix_recipe_is_checked(mix, message):
    from bench.errors import TableError
    from bench.tables.recipe import parse_recipe
    from bench.tables.schema import Checker

    raw = {"optimizer": {"name": "sgd", "lr": 0.1}, "steps": 5, "batch_size": mix.pop("batch", 32),
           "resolution": 8, "mix": mix,
           "preprocess": {"train": "normalize(vit)|resize(8)", "eval": "normalize(vit)|resize(8)"}}
    with pytest.raises(TableError) as err:
        parse_recipe(Checker("t.yaml"), raw, "entries.e.recipe")
    assert "entries.e.recipe.mix" in str(err.value) and message in str(err.value)
