"""Accuracy of a model on an evaluation feed: top-1 and top-5, single labels or label sets (ReaL)."""

from __future__ import annotations

from typing import Any

import torch

from bench.data.spec import Feed
from bench.errors import BenchError


@torch.no_grad()
def evaluate(model: torch.nn.Module, feed: Feed) -> tuple[float, float | None]:
    """(top-1, top-5) accuracy in percent; top-5 is None below 6 classes, where it says nothing. With
    multi-hot labels (ReaL), over the images that have labels: right if a prediction is in the label set."""
    model.eval()
    correct = correct5 = total = 0
    classes = None
    for x, y in feed.batches:
        logits = model(x)
        classes = logits.shape[1]
        top = logits.topk(min(5, classes), dim=1).indices.cpu()
        pred = top[:, 0]
        if y.dim() == 2:  # a label set per image
            has = y.any(dim=1)
            hits = y.gather(1, top)  # is each of the top-5 in the set
            correct += int(hits[:, 0][has].sum())
            correct5 += int(hits.any(dim=1)[has].sum())
            total += int(has.sum())
        else:
            correct += int((pred == y).sum())
            correct5 += int((top == y[:, None]).any(dim=1).sum())
            total += len(y)
    import torch.distributed as dist

    if dist.is_initialized():  # each rank evaluated its share: sum the counts
        counts = torch.tensor([correct, correct5, total], dtype=torch.float64,
                              device="cuda" if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(counts)
        correct, correct5, total = int(counts[0]), int(counts[1]), int(counts[2])
    if total == 0:
        raise BenchError("the evaluation split has no labelled examples")
    return 100.0 * correct / total, (100.0 * correct5 / total if classes and classes > 5 else None)


def record(metrics: dict[str, Any], base: str, suffix: str, accuracy: tuple[float, float | None]) -> None:
    """top1 and top1_err (real_top1, ...) and, where defined, the top-5 twins."""
    top1, top5 = accuracy
    metrics[f"{base}{suffix}"], metrics[f"{base}_err{suffix}"] = top1, 100.0 - top1
    if top5 is not None:
        five = base.replace("top1", "top5")
        metrics[f"{five}{suffix}"], metrics[f"{five}_err{suffix}"] = top5, 100.0 - top5
