"""Checks that need the heavy libraries: timm model names and TFDS dataset builders."""

from __future__ import annotations

from bench.errors import TableError, choices
from bench.experiments import Table


def known_datasets() -> set[str]:
    import tensorflow_datasets as tfds

    from bench.data.builders import register

    register()

    return set(tfds.list_builders(with_community_datasets=False))


def check_resources(tables: dict[str, Table]) -> None:
    """Every model is an exact timm name and every dataset a known TFDS builder."""
    import timm

    datasets = known_datasets()
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
            for name in e.dataset.names:
                base = name.split(":")[0]
                if base not in datasets and base.split("/")[0] not in datasets:
                    raise TableError(t.path, f"{where}.dataset.name",
                                     f"unknown TFDS dataset {name!r}; {choices(base, datasets)}")
