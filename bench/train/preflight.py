"""Checks that need the heavy libraries: timm models and their configs, TFDS dataset builders.

Every model is built once per distinct (model, model_kwargs) on PyTorch's meta device (shapes,
no weights, no memory), so a misspelt or mistyped argument fails here, naming the field, and
not in a training stage. Besides names, two recipe lints that only timm can answer:
  * a model with a fixed input size (a ViT) is fed exactly that size (`recipe.resolution`);
  * an entry that evaluates a released checkpoint as it is uses the checkpoint's own pretrained
    config (input size, crop_pct, interpolation, mean and std: timm's `create_transform` of it),
    unless its `sources:` entry for `preprocess.eval` is an `override:` saying why.
"""

from __future__ import annotations

import inspect
import json
import math

from bench.tables import protocol
from bench.errors import TableError, choices
from bench.tables.table import Entry, Table


def known_datasets() -> set[str]:
    import tensorflow_datasets as tfds

    from bench.data.builders import register

    register()

    return set(tfds.list_builders(with_community_datasets=False))


def check_resources(tables: dict[str, Table]) -> None:
    """Every model is an exact timm name and every dataset a known TFDS builder."""
    import timm

    import bench.train.cifar  # noqa: F401  (registers the harness's own timm models: the CIFAR architectures)
    import bench.train.resnet_v1  # noqa: F401  (and google-research/sam's ImageNet ResNets)

    datasets = known_datasets()
    built: dict[str, str | None] = {}  # (model, kwargs) -> the error building it, or None
    for t in tables.values():
        for e in t.entries.values():
            if not e.runs:  # derived or unavailable: nothing to create or download
                continue
            where = f"entries.{e.id}"
            if not timm.is_model(e.model):
                close = timm.list_models(f"*{e.model.split('_')[0]}*")[:50] or timm.list_models()[:50]
                raise TableError(t.path, f"{where}.model",
                                 f"{e.model!r} is not a timm model; {choices(e.model, close)}")
            if e.checkpoint and "hub" in e.checkpoint:
                tags = timm.list_pretrained(f"{e.model}.*")
                name = f"{e.model}.{e.checkpoint['hub']}"
                if name not in tags:
                    raise TableError(t.path, f"{where}.checkpoint.hub",
                                     f"{name!r} has no pretrained weights in timm; {choices(name, tags or ['(none)'])}")
            _check_model_kwargs(t, e, where, built)
            _check_input_size(t, e, where)
            _check_checkpoint_eval(t, e, where)
            for name in e.dataset.names:
                base = name.split(":")[0]
                if base not in datasets and base.split("/")[0] not in datasets:
                    raise TableError(t.path, f"{where}.dataset.name",
                                     f"unknown TFDS dataset {name!r}; {choices(base, datasets)}")


# Set by the harness from the dataset and the recipe, never by a table file.
RESERVED_KWARGS = ("num_classes", "in_chans", "pretrained", "pretrained_cfg", "pretrained_cfg_overlay")


def _check_model_kwargs(t: Table, e: Entry, where: str, built: dict[str, str | None]) -> None:
    """Build the model on the meta device with the entry's model_kwargs: a wrong name or value fails here."""
    import timm
    import torch

    reserved = [k for k in e.model_kwargs if k in RESERVED_KWARGS]
    if reserved:
        raise TableError(t.path, f"{where}.model_kwargs.{reserved[0]}",
                         "set by the harness (the dataset's classes and channels, the entry's checkpoint); remove it")
    key = json.dumps([e.model, e.model_kwargs], sort_keys=True, default=str)
    if key not in built:
        try:
            with torch.device("meta"):
                timm.create_model(e.model, pretrained=False, **e.model_kwargs)
            built[key] = None
        except Exception as exc:  # noqa: BLE001 (any constructor error is the table's: TypeError, ValueError, ...)
            built[key] = f"{type(exc).__name__}: {exc}"
    if built[key] is None:
        return
    message = f"{e.model} cannot be built with {e.model_kwargs}: {built[key]}"
    bad = next((k for k in e.model_kwargs if f"'{k}'" in built[key]), None)
    if bad is not None:
        with torch.device("meta"):
            accepted = sorted(inspect.signature(type(timm.create_model(e.model, pretrained=False))).parameters)
        message += f"; {choices(bad, [a for a in accepted if a not in ('args', 'kwargs')])}"
    raise TableError(t.path, f"{where}.model_kwargs" + (f".{bad}" if bad else ""), message)


def _pretrained_cfg(e: Entry):
    import timm

    name = f"{e.model}.{e.checkpoint['hub']}" if e.checkpoint and "hub" in e.checkpoint else e.model
    return timm.models.get_pretrained_cfg(name)


def _check_input_size(t: Table, e: Entry, where: str) -> None:
    cfg = _pretrained_cfg(e)
    if cfg is None or not cfg.fixed_input_size:
        return
    size = e.model_kwargs.get("img_size", cfg.input_size[-1])
    size = size[-1] if isinstance(size, (list, tuple)) else size
    if size != e.recipe.resolution:
        raise TableError(t.path, f"{where}.recipe.resolution",
                         f"{e.model} takes {size} x {size} inputs (model_kwargs.img_size, else timm's config) but "
                         f"the recipe feeds {e.recipe.resolution} x {e.recipe.resolution}; make them equal")


def checkpoint_eval_pipeline(model: str, tag: str) -> str:
    """The evaluation pipeline of a released checkpoint's timm pretrained config, as ops (canonical form):
    timm's `transforms_imagenet_eval` in its default centre-crop mode."""
    import timm

    from bench.pp.ops.normalize import NORMS
    from bench.pp.grammar import parse

    cfg = timm.models.get_pretrained_cfg(f"{model}.{tag}")
    size = cfg.input_size[-1]
    scale = math.floor(size / (cfg.crop_pct or 0.875))
    mean, std = tuple(cfg.mean), tuple(cfg.std)
    norm = next((k for k, v in NORMS.items() if v == (mean, std)), f"{mean}, {std}")
    return str(parse(f"resize_short({scale}, {cfg.interpolation})|center_crop({size})|normalize({norm})"))


def _check_checkpoint_eval(t: Table, e: Entry, where: str) -> None:
    if not (e.recipe.evaluation_only and e.checkpoint and "hub" in e.checkpoint):
        return
    expected = checkpoint_eval_pipeline(e.model, e.checkpoint["hub"])
    declared = e.recipe.preprocess.eval
    source = protocol.source_of(t.sources, "preprocess.eval", declared) or ""
    if declared != expected and protocol.kind(source) != "override":
        raise TableError(t.path, f"{where}.recipe.preprocess.eval",
                         f"{declared!r} differs from the checkpoint's pretrained config ({expected!r}); use it, or "
                         "cite why not with an 'override: ...' source for this pipeline")
