"""The resolved pre-processing against the reference implementations, on the same images.

* Evaluation-only rows: the table's pipeline against timm's own
  `create_transform(**resolve_data_config(...))` for the checkpoint.
* SAM's CIFAR pipeline: the table's ops against the official operations
  (google-research/sam dataset_source.py and augmentation.py) re-expressed with
  torchvision functionals.
* Each op's batched form (in-memory path) against its per-example form (streaming path).
* Position embeddings resampled as vit_jax does, against scipy.ndimage.zoom(order=1).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bench.pp.grammar import parse
from bench.tables.params import load_all, load_params
from conftest import ROOT


@pytest.fixture(scope="module")
def tables():
    return load_all(load_params(ROOT / "params.yaml"))


def _image(h: int, w: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("table,entry", [("vit_table2", "vit_t2_ns_imagenet"), ("sam_table3", "sam_t3_base_imagenet")])
def test_evaluated_checkpoints_preprocess_exactly_as_timm(tables, table, entry):
    import timm
    from timm.data import create_transform, resolve_data_config

    e = tables[table].entries[entry]
    cfg = timm.models.get_pretrained_cfg(f"{e.model}.{e.checkpoint['hub']}").to_dict()
    reference = create_transform(**resolve_data_config({}, pretrained_cfg=cfg))
    ours = parse(e.recipe.preprocess.eval)
    for h, w in ((900, 700), (640, 1000)):
        img = _image(h, w)
        expected, got = reference(img), ours.example(img)
        assert got.shape == expected.shape == (3, e.recipe.resolution, e.recipe.resolution)
        assert torch.allclose(got, expected, atol=1e-6, rtol=0), float((got - expected).abs().max())


CIFAR = {"cifar10": ((0.49139968, 0.48215841, 0.44653091), (0.24703223, 0.24348513, 0.26158784)),
         "cifar100": ((0.50707516, 0.48654887, 0.44091784), (0.26733429, 0.25643846, 0.27615047))}


def _official_eval(img: Image.Image, name: str, size: int) -> torch.Tensor:
    """dataset_source.py: /255, (x - mean) / std, then resize_bicubic of the whole image (no crop)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    x = TF.normalize(TF.to_tensor(img), *CIFAR[name])
    return TF.resize(x, [size, size], interpolation=InterpolationMode.BICUBIC)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_sam_cifar_evaluation_is_the_official_operations(tables, name):
    e = tables["sam_table10"].entries[f"sam_t10_base_{name}"]
    img = _image(32, 32, seed=1)
    got = parse(e.recipe.preprocess.eval).example(img)
    assert torch.allclose(got, _official_eval(img, name, 600), atol=1e-6, rtol=0)


def test_sam_cifar_training_is_the_official_order(tables):
    """Without AutoAugment (tests/test_sam_autoaugment.py holds it to the official code), every output is one of
    the official outputs: flip or not, then reflect-pad 4 and a 32-px crop at one of 81 offsets, then normalise
    and resize (at 48 px here, not 600)."""
    from torchvision.transforms import functional as TF

    text = tables["sam_table10"].entries["sam_t10_base_cifar10"].recipe.preprocess.train
    assert text.startswith("sam_autoaugment(cifar, 128, 250, 100)|")
    ours = parse(text.split("|", 1)[1].replace("resize(600", "resize(48"))
    img = _image(32, 32, seed=2)
    candidates = []
    for flipped in (img, TF.hflip(img)):
        padded = torch.nn.functional.pad(TF.pil_to_tensor(flipped)[None].float(), (4, 4, 4, 4), mode="reflect")[0]
        for i in range(9):
            for j in range(9):
                crop = Image.fromarray(padded[:, i:i + 32, j:j + 32].permute(1, 2, 0).byte().numpy())
                candidates.append(_official_eval(crop, "cifar10", 48))
    stacked = torch.stack(candidates)
    torch.manual_seed(0)
    for _ in range(6):
        got = ours.example(img)
        assert float((stacked - got).abs().flatten(1).max(1).values.min()) < 1e-5


@pytest.mark.parametrize("text", ["normalize(vit)|resize(12)", "normalize(imagenet)|resize(12, bicubic)",
                                  "flip_lr|normalize(vit)|resize(5, bicubic)"])
def test_batched_and_per_example_forms_agree(text):
    pipeline = parse(text)
    assert pipeline.batched
    torch.manual_seed(0)
    images = [_image(8, 8, seed=s) for s in range(4)]
    batch = torch.stack([torch.from_numpy(np.array(i)).permute(2, 0, 1) for i in images])
    batched = pipeline.batch(batch)
    per_example = torch.stack([pipeline.example(i) for i in images])
    if not pipeline.random:
        assert torch.allclose(batched, per_example, atol=1e-5, rtol=0)
    else:  # each output is the unflipped or the flipped image's
        plain = parse(text.replace("flip_lr|", "")).batch(batch)
        for b in (batched, per_example):
            assert all(torch.allclose(o, p, atol=1e-5) or torch.allclose(o, p.flip(2), atol=1e-5)
                       for o, p in zip(b, plain))


def test_a_resize_of_8_bit_pixels_runs_per_example():
    """PIL's 8-bit resize (streaming) cannot be repeated on a batch, so such a pipeline never runs in memory."""
    assert not parse("resize(12)|normalize(vit)").batched
    assert parse("pad_crop(1, edge)|flip_lr|normalize(vit)|resize(12)").batched


def test_ops_print_and_parse_back_exactly():
    text = "center_crop_frac(600/632)|resize(600, bicubic)|normalize(imagenet)"
    canonical = str(parse(text))
    assert canonical == "center_crop_frac(0.9493670886075949)|resize(600, bicubic)|normalize(imagenet)"
    assert str(parse(canonical)) == canonical
    with pytest.raises(ValueError, match="unknown op 'flip'.*did you mean 'flip_lr'"):
        parse("normalize(vit)|flip")
    with pytest.raises(ValueError, match="resize: unknown argument 'mode'"):
        parse("resize(8, mode=bicubic)")


@pytest.mark.parametrize("text,message", [
    ("resize(0)", "resize: size: must lie in [1, 8192], got 0"),
    ("inception_crop(224, 2)", "inception_crop: area_min: must lie in [0.01, 1.0], got 2.0"),
    ("pad_crop(4, wrap)", "pad_crop: mode: unknown mode 'wrap'; valid choices: edge, reflect"),
    ("resize(8, bilnear)", "resize: method: unknown method 'bilnear'; valid choices: bicubic, bilinear, nearest "
                           "(did you mean 'bilinear'?)"),
    ("normalize((0.5,), (0,))", "normalize: std: must be positive, got (0,)"),
    ("normalize(foo)", "normalize: unknown preset 'foo'"),
    ("resize(8.5)", "resize: size: expected an integer, got 8.5"),
    ("flip_lr(1)", "flip_lr: at most 0 arguments (none)"),
])
def test_bad_arguments_name_the_op_the_argument_and_what_is_valid(text, message):
    """Each op declares its arguments' checks (bench.pp.core.arg) beside its code; the grammar applies them."""
    with pytest.raises(ValueError) as info:
        parse(text)
    assert message in str(info.value)


def test_every_module_of_bench_pp_is_found_and_parsing_needs_no_torch():
    """A new op is one new module: the registry imports every module of bench/pp/ops on first use (each names
    its op after itself), and reading pipelines imports neither torch, PIL nor numpy."""
    import subprocess
    import sys

    code = ("import sys; from bench.pp.grammar import parse; from bench.pp.ops import registry; "
            "print(sorted((op.__module__, name) for name, op in registry().items())); "
            "print(sorted(m for m in ('torch', 'torchvision', 'PIL', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    found, heavy = out.stdout.splitlines()[-2:]
    modules = sorted(p.stem for p in (ROOT / "bench/pp/ops").glob("*.py") if p.stem != "__init__")
    assert found == str([(f"bench.pp.ops.{m}", m) for m in modules]) and heavy == "[]"


def test_linear_position_embeddings_match_vit_jax(tmp_path):
    """scipy.ndimage.zoom(order=1) of the checkpoint's grid (vit_jax checkpoint.py), the class token kept."""
    from scipy import ndimage

    from bench.train.models import create_model

    kwargs = {"patch_size": 2, "embed_dim": 16, "depth": 1, "num_heads": 2}
    src = create_model("vit_tiny_patch16_224", 10, 3, {"img_size": 8, **kwargs})
    torch.save(src.state_dict(), tmp_path / "ckpt.pth")
    ours = create_model("vit_tiny_patch16_224", 10, 3, {"img_size": 14, **kwargs}, checkpoint={"file": "ckpt.pth"},
                        root=tmp_path, pos_embed_resample="linear")
    grid = src.pos_embed[0, 1:].detach().reshape(4, 4, 16).numpy()
    zoomed = ndimage.zoom(grid, (7 / 4, 7 / 4, 1), order=1)
    assert torch.allclose(ours.pos_embed[0, 0], src.pos_embed[0, 0])
    assert np.allclose(ours.pos_embed[0, 1:].detach().reshape(7, 7, 16).numpy(), zoomed, atol=1e-6)
    timm_way = create_model("vit_tiny_patch16_224", 10, 3, {"img_size": 14, **kwargs}, checkpoint={"file": "ckpt.pth"},
                            root=tmp_path)
    assert not torch.allclose(timm_way.pos_embed, ours.pos_embed)  # timm's loader resamples bicubically


def test_polyak_runs_record_raw_and_averaged_accuracy(digits_dir):
    from bench.train.loop import RunConfig, train
    from conftest import as_plan, tiny_plan

    metrics, _ = train(as_plan(tiny_plan(ema=0.9)), 0, digits_dir, RunConfig(progress=False))
    assert {"top1", "top1_raw", "top1_err", "top1_err_raw"} <= set(metrics)
    assert metrics["top1"] + metrics["top1_err"] == pytest.approx(100.0)
    plain, _ = train(as_plan(tiny_plan()), 0, digits_dir, RunConfig(progress=False))
    assert "top1_raw" not in plain and plain["top1"] == metrics["top1_raw"]  # same seed, same raw weights


def test_cutout_zeroes_a_square_centred_anywhere_and_clipped_at_the_border():
    """On a fixed white 32 x 32 image: the square is size x size where its centre lies inside, clipped where
    it lies near the border; both forms draw the centre uniformly, per image."""
    import numpy as np
    import torch
    from PIL import Image

    from bench.pp.grammar import parse

    op = parse("cutout(16)").ops[0]
    white = Image.fromarray(np.full((32, 32, 3), 255, np.uint8))
    for seed in range(20):
        torch.manual_seed(seed)
        y, x = int(torch.randint(32, ())), int(torch.randint(32, ()))
        torch.manual_seed(seed)
        out = np.asarray(op.example(white))
        expected = np.full((32, 32), 255, np.uint8)
        expected[max(0, y - 8):min(32, y + 8), max(0, x - 8):min(32, x + 8)] = 0
        assert (out == expected[:, :, None]).all(), seed
    g = torch.Generator().manual_seed(0)
    batch = op.batch(torch.full((500, 3, 32, 32), 255, dtype=torch.uint8), g)
    zeros = (batch == 0).all(dim=1).sum(dim=(1, 2))
    assert batch.dtype == torch.uint8 and zeros.max() == 256 and zeros.min() >= 64  # 16 x 16, at least 8 x 8
    assert 0.2 < (zeros == 256).float().mean() < 0.35  # the centre in [8, 24) on both axes: (16/32)^2
    normalised = op.batch(torch.ones(2, 3, 32, 32), g)  # after normalize: the mask is the mean, 0
    assert set(normalised.unique().tolist()) == {0.0, 1.0}


def test_cutout_per_batch_is_one_square_for_the_whole_batch_as_the_sam_code_draws_it():
    import pytest
    import torch

    from bench.pp.grammar import parse
    from bench.errors import BenchError

    op = parse("cutout(16, batch)").ops[0]
    out = op.batch(torch.ones(50, 3, 32, 32), torch.Generator().manual_seed(1))
    masks = (out == 0).all(dim=1)
    assert masks.any() and all(torch.equal(m, masks[0]) for m in masks)  # the same square in every image
    with pytest.raises(BenchError, match="needs the batched"):
        op.example(torch.ones(3, 32, 32))
    with pytest.raises(ValueError, match="unknown per 'pixel'"):
        parse("cutout(16, pixel)")
