"""Pipelines of pre-processing ops: `op(args)|op(args)|...`, parsed with checked names and arguments.

    parse("inception_crop(384)|flip_lr|normalize(vit)") -> Pipeline   (str() gives the canonical text back)

A recipe declares its train and eval pipelines this way (recipe.preprocess);
`bench validate` checks them, both input paths execute them, and the report's
protocol card prints them. The ops themselves: one module each in bench/pp,
found through bench.pp.ops.registry(); each declares its arguments' checks
(bench.pp.core.arg), which `make` applies.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import math
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.errors import choices
from bench.pp.core import Op
from bench.pp.ops import registry
from bench.pp.ops.normalize import Normalize

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Pipeline:
    """An ordered op list; `str()` is its `op|op|...` form."""

    ops: tuple[Op, ...]

    def __str__(self) -> str:
        return "|".join(str(op) for op in self.ops)

    def __iter__(self):
        return iter(self.ops)

    @property
    def batched(self) -> bool:
        """Whether the in-memory path can run it, computing what the per-example form computes: every op
        has a batch form, and those before `normalize` are exact on 8-bit pixels."""
        before = self.ops[:next((i for i, op in enumerate(self.ops) if isinstance(op, Normalize)), len(self.ops))]
        return all(op.batched for op in self.ops) and all(op.exact_on_pixels for op in before)

    def split_for_device(self) -> tuple[Pipeline, Pipeline]:
        """(the ops DataLoader workers run, the ops the training device runs after them).

        When the ops from `normalize` on all have deterministic batch forms, the workers stop before
        `normalize` and ship 8-bit pixels (a quarter of float32's bytes in host memory and over PCIe);
        the device normalises (Normalize.batch, the same arithmetic on pixels in 0..255). Otherwise
        the workers run everything and the device nothing."""
        i = next((i for i, op in enumerate(self.ops) if isinstance(op, Normalize)), None)
        tail = self.ops[i:] if i is not None else ()
        if tail and all(op.batched and not op.random for op in tail):
            return Pipeline(self.ops[:i]), Pipeline(tail)
        return self, Pipeline(())

    def out_size(self, size: int | None = None) -> int | None:
        for op in self.ops:
            size = op.out_size(size)
        return size

    def example(self, img) -> torch.Tensor:
        for op in self.ops:
            img = op.example(img)
        return img

    @property
    def random(self) -> bool:
        return any(op.random for op in self.ops)

    def batch(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for op in self.ops:
            x = op.batch(x, generator)
        return x.contiguous()


def make(name: str, *args: Any, **kwargs: Any) -> Op:
    """One op from its name and arguments, each checked as the op declares it; ValueError names what is wrong."""
    ops = registry()
    if name not in ops:
        raise ValueError(f"unknown op {name!r}; {choices(name, ops)}")
    cls = ops[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    args = cls.positional(args)
    if len(args) > len(fields):
        raise ValueError(f"{name}: at most {len(fields)} arguments ({', '.join(fields) or 'none'})")
    values = dict(zip(fields, args))
    for key, value in kwargs.items():
        if key not in fields:
            raise ValueError(f"{name}: unknown argument {key!r}; {choices(key, fields)}")
        if key in values:
            raise ValueError(f"{name}: argument {key!r} given twice")
        values[key] = value
    return cls(**{key: _coerce(name, fields[key], _types(cls)[key], value) for key, value in values.items()})


@functools.cache
def _types(cls: type[Op]) -> dict[str, type]:
    """Each argument's declared type (its annotation, evaluated): int, float, str or tuple."""
    hints = typing.get_type_hints(cls)
    return {f.name: typing.get_origin(hints[f.name]) or hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(op: str, field: dataclasses.Field, kind: type, value: Any) -> Any:
    """`value` checked against the argument's declaration (type, then `check` on the value as written, then
    range and choices), as the field stores it."""
    key, where = field.name, f"{op}: {field.name}"
    if kind is tuple:
        if not isinstance(value, (tuple, list)) or len(value) not in (1, 3) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
            raise ValueError(f"{where}: expected 1 or 3 numbers, got {value!r}")
    elif kind is bool or isinstance(value, bool):
        raise ValueError(f"{where}: unexpected {value!r}")
    elif kind is int:
        if not isinstance(value, int):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
    elif kind is float:
        if not isinstance(value, (int, float)):
            raise ValueError(f"{where}: expected a number, got {value!r}")
    elif kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a name, got {value!r}")
    else:
        raise TypeError(f"{where}: arguments are int, float, str or tuple[float, ...], not {kind!r}")
    wrong = field.metadata.get("check") and field.metadata["check"](value)
    if wrong:
        raise ValueError(f"{where}: {wrong}")
    if kind is tuple:
        value = tuple(float(v) for v in value)
    elif kind is float:
        value = float(value)
    valid = field.metadata.get("choices")
    if valid and value not in valid:
        raise ValueError(f"{where}: unknown {key} {value!r}; {choices(value, valid)}")
    bounds = field.metadata.get("range")
    if bounds and not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{where}: must lie in [{bounds[0]}, {bounds[1]}], got {value}")
    return value


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Name):  # bare words are names: bicubic, imagenet, reflect
        return node.id
    if isinstance(node, ast.Tuple | ast.List):
        return tuple(_literal(v) for v in node.elts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):  # 600/632: a ratio as the code writes it
        a, b = _literal(node.left), _literal(node.right)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)) and b:
            return a / b
        raise ValueError("bad ratio")
    return ast.literal_eval(node)


def parse(text: str) -> Pipeline:
    """`op(args)|op|...` -> Pipeline; ValueError names the op and argument at fault."""
    ops = []
    for part in text.split("|"):
        part = part.strip()
        if not part:
            raise ValueError(f"empty op in {text!r}")
        try:
            node = ast.parse(part if "(" in part else part + "()", mode="eval").body
        except SyntaxError:
            raise ValueError(f"cannot read op {part!r}: expected name(arg, ...)") from None
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            raise ValueError(f"cannot read op {part!r}: expected name(arg, ...)")
        try:
            args = [_literal(a) for a in node.args]
            kwargs = {k.arg: _literal(k.value) for k in node.keywords}
        except ValueError:
            raise ValueError(f"{part!r}: arguments must be numbers, names or tuples") from None
        ops.append(make(node.func.id, *args, **kwargs))
    return Pipeline(tuple(ops))


def problem(pipeline: Pipeline, resolution: int, evaluation: bool) -> str | None:
    """What is wrong with a recipe's pipeline, or None: one normalize, no randomness in evaluation,
    and an output of resolution x resolution pixels."""
    n = sum(isinstance(op, Normalize) for op in pipeline.ops)
    if n != 1:
        return f"needs exactly one normalize(...) op, has {n}"
    if evaluation and pipeline.random:
        return "an evaluation pipeline must be deterministic; remove " + ", ".join(
            op.name for op in pipeline.ops if op.random)
    size = pipeline.out_size()
    if size is None:
        return f"its output size is unknown; end with an op that sets it (resize, center_crop) to {resolution}"
    if size != resolution:
        return f"ends at {size} x {size} pixels, but recipe.resolution is {resolution}"
    return None
