"""The pre-processing ops, one module each: a new op is one module here, a frozen dataclass subclassing
bench.pp.core.Op, registered with @register, declaring its arguments' checks beside its code.

`registry()` imports every module of this package on its first call (each op registers itself) and
returns the ops by name; nothing else lists them.
"""

from __future__ import annotations

import importlib
import pkgutil

from bench.pp.core import Op, registered


def registry() -> dict[str, type[Op]]:
    """Every op by name, sorted by name; on the first call, every module of this package is imported."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return registered()
