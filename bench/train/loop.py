"""The training loop every entry runs: read the plan, train, evaluate, record.

    bench train --entry <id> --seed <n>     (DVC stage train@<id>-<n>)

Top to bottom: seed everything; load the splits through tfds.data_source;
create the timm model; build the optimizer and cosine schedule; run `steps`
updates (plain or SAM) with a progress bar; evaluate top-1 on the test split;
write the checkpoint and runs/<entry>/<seed>/metrics.json with provenance.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bench import provenance
from bench.data.loader import ArraySplit, Batches, add_label_noise, load_split, preprocess
from bench.errors import BenchError
from bench.models import create_model
from bench.train.optim import build_optimizer, build_schedule
from bench.train.sam import sam_step, sgd_step


class TrainingDiverged(BenchError):
    """The loss became NaN or infinite: the run failed and yields no number."""


def pick_device(requested: str = "auto") -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError(f"device {requested!r} requested but CUDA is not available")
    return requested


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@torch.no_grad()
def evaluate(model: torch.nn.Module, split: ArraySplit, resolution: int, batch_size: int, device: str) -> float:
    """Top-1 accuracy in percent over the whole split."""
    model.eval()
    correct = 0
    for start in range(0, len(split.labels), batch_size):
        x = preprocess(split.images[start:start + batch_size].to(device), resolution)
        pred = model(x).argmax(dim=1).cpu()
        correct += int((pred == split.labels[start:start + batch_size]).sum())
    return 100.0 * correct / len(split.labels)


def holdout_split(split: ArraySplit, fraction: float) -> tuple[ArraySplit, ArraySplit]:
    """Last `fraction` of a (possibly noisy-label) training split as validation, for tuning."""
    cut = len(split.labels) - int(round(fraction * len(split.labels)))
    return (ArraySplit(split.images[:cut], split.labels[:cut], split.num_classes),
            ArraySplit(split.images[cut:], split.labels[cut:], split.num_classes))


def train(plan: dict[str, Any], seed: int, data_dir: str | Path, device: str = "auto",
          progress: bool | None = None, holdout: float = 0.0) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Run one (entry, seed); returns (metrics, model state dict). Raises TrainingDiverged on NaN.

    With `holdout` > 0 the test split is not touched: the model trains on the
    first part of the training split and is evaluated on the held-out rest
    (labels as the training split has them, noise included), for tuning.
    """
    recipe, ds = plan["recipe"], plan["dataset"]
    device = pick_device(device)
    generator = seed_everything(seed)

    train_split = load_split(ds["name"], ds["train_split"], data_dir)
    train_split.labels = add_label_noise(train_split.labels, train_split.num_classes, ds["label_noise"],
                                         ds["noise_seed"])
    if holdout > 0:
        train_split, test_split = holdout_split(train_split, holdout)
    else:
        test_split = load_split(ds["name"], ds["test_split"], data_dir)
    model = create_model(plan["model"], train_split.num_classes, train_split.images.shape[1],
                         plan["model_kwargs"], plan["checkpoint"]).to(device)
    optimizer = build_optimizer(model, recipe["optimizer"])
    schedule = build_schedule(optimizer, recipe)
    sam = recipe["optimizer"]["sam"]
    aug = recipe["augmentation"]

    def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, label_smoothing=recipe["label_smoothing"])

    batches = Batches(train_split, recipe["batch_size"], generator)
    steps = recipe["steps"]
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=f"{plan['entry']} seed {seed}", unit="step", leave=False,
               disable=None if progress is None else not progress)  # None: only on a terminal
    for step in bar:
        images, labels = next(batches)
        x = preprocess(images.to(device), recipe["resolution"], aug["shift"], aug["hflip"], generator)
        y = labels.to(device)
        if sam is not None:
            loss = sam_step(model, optimizer, loss_fn, x, y, sam["rho"], sam["adaptive"], recipe["grad_clip"],
                            recipe["accum_steps"])
        else:
            loss = sgd_step(model, optimizer, loss_fn, x, y, recipe["grad_clip"], recipe["accum_steps"])
        schedule.step()
        if step % 10 == 0 or step == steps - 1:
            value = float(loss)
            if not math.isfinite(value):
                raise TrainingDiverged(f"{plan['entry']} seed {seed}: loss is {value} at step {step}")
            bar.set_postfix(loss=f"{value:.3f}", refresh=False)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - start

    top1 = evaluate(model, test_split, recipe["resolution"], recipe["eval_batch_size"], device)
    metrics = {
        "entry": plan["entry"],
        "table": plan["table"],
        "seed": seed,
        "status": "ok",
        "top1": top1,
        "top1_err": 100.0 - top1,
        "train_loss": float(loss),
        "steps": steps,
        "epochs": round(steps * recipe["batch_size"] / len(train_split.labels), 3),
        "train_examples": len(train_split.labels),
        "test_examples": len(test_split.labels),
        "wall_time_s": round(wall, 3),
        "images_per_s": round(steps * recipe["batch_size"] / wall, 1),
        "device": device,
        "device_name": provenance.device_name(device),
        "git_commit": provenance.git_commit(),
        "packages": provenance.package_versions(),
    }
    return metrics, model.state_dict()
