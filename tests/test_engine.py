"""The engine: device choices, and resuming a stopped run to the same final weights."""

from __future__ import annotations

import pytest
import torch

import bench.train.loop as loop
from bench.errors import BenchError
from bench.train.engine import make_engine
from bench.train.loop import RunConfig, train
from conftest import tiny_plan, as_plan


def test_cpu_engine_is_plain_float32():
    vit = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 2), torch.nn.Flatten())
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Conv2d(4, 4, 3))
    e = make_engine("cpu", cnn)
    assert (e.precision, e.channels_last, e.compile) == ("fp32", False, False)
    assert e.optimizer_kwargs() == {}
    assert make_engine("cpu", vit, channels_last="true").channels_last  # forced
    with pytest.raises(BenchError, match="bf16 needs CUDA"):
        make_engine("cpu", vit, precision="bf16")


@pytest.mark.gpu
def test_cuda_engine_bf16_channels_last_step():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 8, 3), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(8, 10))
    e = make_engine("cuda", cnn)
    assert e.precision == "bf16" and e.channels_last and e.optimizer_kwargs() == {"fused": True}
    model = e.prepare(cnn)
    with e.autocast():
        out = model(e.batch(torch.randn(4, 3, 16, 16, device="cuda")))
    assert out.dtype == torch.bfloat16


class _Stop(Exception):
    pass


def _stop_at(monkeypatch, at_step: int) -> None:
    def hook(step):
        if step == at_step:
            raise _Stop

    monkeypatch.setattr(loop, "after_step", hook)


@pytest.mark.parametrize("plan_kind", ["sgd", "sam_ema"])
def test_resume_gives_the_uninterrupted_weights(plan_kind, digits_dir, tmp_path, monkeypatch):
    plan = tiny_plan(steps=9)
    if plan_kind == "sam_ema":
        plan = tiny_plan(steps=9, ema=0.9)
        plan["recipe"]["optimizer"]["sam"] = {"rho": 0.05, "adaptive": False, "m": 16}
        plan["model_kwargs"]["drop_rate"] = 0.1  # the global RNG (dropout) must resume too
    full, full_state = train(as_plan(plan), 5, digits_dir, RunConfig("cpu", progress=False,
                                                                      run_dir=tmp_path / "full"))

    run_dir = tmp_path / "run"
    _stop_at(monkeypatch, 6)  # dies during step 7; the last resume point is after step 4
    with pytest.raises(_Stop):
        train(as_plan(plan), 5, digits_dir, RunConfig("cpu", progress=False, run_dir=run_dir, checkpoint_every=4))
    assert (run_dir / "resume.pt").is_file()
    monkeypatch.setattr(loop, "after_step", lambda step: None)
    resumed, state = train(as_plan(plan), 5, digits_dir, RunConfig("cpu", progress=False, run_dir=run_dir, checkpoint_every=4))
    assert resumed["resumed_from_step"] == 4 and not (run_dir / "resume.pt").exists()
    for key, value in full_state.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0, msg=key)
    assert resumed["top1"] == full["top1"] and resumed["train_loss"] == full["train_loss"]
    # the per-step log (dvclive) of the resumed run is the uninterrupted run's: no step twice, none missing
    from bench.io import series_dir

    for name in ("loss", "lr"):
        a = (series_dir(tmp_path / "full") / f"{name}.tsv").read_text().splitlines()
        b = (series_dir(run_dir) / f"{name}.tsv").read_text().splitlines()
        assert [line.split("\t")[0] for line in b] == [line.split("\t")[0] for line in a] == ["step"] + [
            str(s) for s in range(1, 10)]
        assert b == a


def test_resume_file_of_another_plan_is_ignored(digits_dir, tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    _stop_at(monkeypatch, 3)
    with pytest.raises(_Stop):
        train(as_plan(tiny_plan(steps=6)), 1, digits_dir, RunConfig("cpu", progress=False, run_dir=run_dir, checkpoint_every=2))
    monkeypatch.setattr(loop, "after_step", lambda step: None)
    other = tiny_plan(steps=6, label_smoothing=0.1)
    metrics, _ = train(as_plan(other), 1, digits_dir, RunConfig("cpu", progress=False, run_dir=run_dir, checkpoint_every=2))
    assert metrics["resumed_from_step"] is None and "written for another plan" in capsys.readouterr().err


def test_metrics_record_the_engine_and_costs(digits_dir):
    metrics, _ = train(as_plan(tiny_plan()), 0, digits_dir, RunConfig("cpu", progress=False))
    assert metrics["engine"] == {"device": "cpu", "precision": "fp32", "channels_last": False, "compile": False}
    assert metrics["peak_memory_mb"] > 0 and metrics["device_hours"] == pytest.approx(metrics["wall_time_s"] / 3600,
                                                                                     abs=1e-6)


@pytest.mark.slow
def test_streaming_data_resume_to_the_same_weights(tmp_path, monkeypatch):
    """JPEG-style data through DataLoader: per-example seeds make the resumed batches identical."""
    from dummy_sources import prepare_from_dummy
    from test_paper_data import paper_plan

    prepare_from_dummy("cifar10", tmp_path / "tfds", tmp_path)
    plan = paper_plan("cifar10", "train", "test")
    plan["recipe"].update(steps=5, preprocess={"train": "inception_crop(16)|flip_lr|autoaugment(cifar10)|normalize(vit)",
                                               "eval": "resize(16)|normalize(vit)"})
    _, full_state = train(as_plan(plan), 3, tmp_path / "tfds", RunConfig("cpu", progress=False))
    run_dir = tmp_path / "run"
    _stop_at(monkeypatch, 3)
    with pytest.raises(_Stop):
        train(as_plan(plan), 3, tmp_path / "tfds", RunConfig("cpu", progress=False, run_dir=run_dir, checkpoint_every=2))
    monkeypatch.setattr(loop, "after_step", lambda step: None)
    resumed, state = train(as_plan(plan), 3, tmp_path / "tfds", RunConfig("cpu", progress=False, run_dir=run_dir, checkpoint_every=2))
    assert resumed["resumed_from_step"] == 2
    for key, value in full_state.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0, msg=key)


def test_device_auto_refuses_the_cpu_on_a_machine_whose_gpus_torch_cannot_use(monkeypatch):
    from bench.errors import BenchError

    from bench.train import engine

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(engine, "_gpus_present", lambda: "/dev/nvidia0")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(BenchError, match="has NVIDIA GPUs .* cannot use them.*--device cpu"):
        engine.pick_device("auto")
    assert engine.pick_device("cpu") == "cpu"  # asked for: fine
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # hidden on purpose: the CPU it is
    assert engine.pick_device("auto") == "cpu"
    monkeypatch.setattr(engine, "_gpus_present", lambda: None)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert engine.pick_device("auto") == "cpu"  # no GPU at all


def test_resume_restores_the_cuda_generators_that_still_apply():
    from bench.train.resume import restore_cuda_rng

    calls = []
    assert restore_cuda_rng(["a", "b"], 2, lambda s, i: calls.append((s, i))) is None and calls == [("a", 0), ("b", 1)]
    calls.clear()
    note = restore_cuda_rng(["a", "b", "c", "d"], 2, lambda s, i: calls.append((s, i)))  # 4 saved, 2 visible
    assert calls == [("a", 0), ("b", 1)] and "4 CUDA generator states were saved and 2 devices" in note
    calls.clear()
    note = restore_cuda_rng(["a"], 2, lambda s, i: calls.append((s, i)))
    assert calls == [("a", 0)] and "devices 1..1 keep their seeded state" in note


WORKERS_CHILD = r"""
import gc, json, multiprocessing, sys
sys.path.insert(0, "tests")
from bench.pp.grammar import parse
from bench.data.spec import data_spec
from bench.data.stream import stream_train
spec = data_spec("cifar10", sys.argv[1])
feed = stream_train(spec, "train", parse("resize(16)|normalize(vit)"), 2, sys.argv[1], seed=0, device="cpu")
next(feed.batches)
before = len(multiprocessing.active_children())
feed.batches.close()  # what the loop does before evaluating
gc.collect()
print(json.dumps([before, len(multiprocessing.active_children())]))
"""


@pytest.mark.slow
def test_closing_the_training_feed_ends_its_loader_workers(tmp_path):
    """The loop closes the training feed before evaluation: its DataLoader workers (and the batches they
    prefetched) are gone, instead of living through the evaluation."""
    import json
    import os
    import subprocess
    import sys

    from conftest import ROOT
    from dummy_sources import prepare_from_dummy

    prepare_from_dummy("cifar10", tmp_path / "tfds", tmp_path)
    out = subprocess.run([sys.executable, "-c", WORKERS_CHILD, str(tmp_path / "tfds")], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "BENCH_DATA_WORKERS": "2"}, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    before, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert before == 2 and after == 0


def test_workers_ship_pixels_and_the_device_normalises_the_same_batches(digits_dir, monkeypatch):
    """The streaming feed's workers stop before `normalize` and ship uint8 pixels in pieces of at most
    PIECE examples; the feed joins the pieces and normalises on the device. Its batches equal what the
    whole pipeline computes per example in float32 (to float rounding), in the same order."""
    import torch

    from bench.pp.grammar import parse
    from bench.data.spec import data_spec
    from bench.data.stream import PIECE, EpochBatches, SourceDataset, stream_train

    monkeypatch.setenv("BENCH_DATA_WORKERS", "0")  # this process built the data with TensorFlow: no fork
    pipeline = parse("pad_crop(2, edge)|resize(16)|normalize(imagenet)")
    workers, on_device = pipeline.split_for_device()
    assert str(workers) == str(parse("pad_crop(2, edge)|resize(16)")) and str(on_device) == "normalize(imagenet)"
    spec = data_spec("sklearn_digits", digits_dir)
    batch = PIECE + 6  # two pieces
    feed = stream_train(spec, "train", pipeline, batch, digits_dir, seed=3, device="cpu")
    x, y = next(feed.batches)
    assert x.dtype == torch.float32 and x.shape == (batch, 3, 16, 16)
    keys = next(iter(EpochBatches(len(SourceDataset(spec, "train", digits_dir, None)), batch, 3)))
    whole = SourceDataset(spec, "train", digits_dir, pipeline.example)  # every op in float, per example
    expected = torch.stack([whole[k][0] for k in keys])
    torch.testing.assert_close(x, expected, rtol=0, atol=1e-5)
    assert torch.equal(y, torch.tensor([whole[k][1] for k in keys]))
    pixels = SourceDataset(spec, "train", digits_dir, stream_train.__globals__["_worker_transform"](workers, on_device))
    assert pixels[keys[0]][0].dtype == torch.uint8  # what crosses from the workers


def test_a_pipeline_with_random_ops_after_normalize_stays_in_the_workers():
    from bench.pp.grammar import parse

    random_after = parse("normalize(vit)|pad_crop(1, edge)|resize(8)")  # a per-example draw after normalize
    assert [str(p) for p in random_after.split_for_device()] == [str(random_after), ""]
    no_normalize = parse("resize(16)")
    assert [str(p) for p in no_normalize.split_for_device()] == [str(no_normalize), ""]
