"""Pre-processing as registered ops, as big_vision's pp/: `inception_crop(384)|flip_lr|normalize(vit)`.

    grammar    the op-pipeline grammar: parse, check arguments, print canonically, split for the device
    core       the Op base class, argument declarations (arg) and register
    ops/       one op a module (normalize, resize, inception_crop, ...): a frozen dataclass registered by
               name, its arguments declared with their checks, per example and batched;
               ops.registry() imports every module there on first use

A new op is one new module in ops/. Pure Python at import (the ops import torch and PIL when they run).
"""
