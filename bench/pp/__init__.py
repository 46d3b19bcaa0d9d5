"""Pre-processing as registered ops, as big_vision's pp/: `inception_crop(384)|flip_lr|normalize(vit)`.

    grammar    the op-pipeline grammar: parse, check arguments, print canonically, split for the device
    core       the Op base class, argument declarations (arg), register, and the registry, which imports
               every other module of this package on first use
    <op>.py    one op each (normalize, resize, inception_crop, ...): a frozen dataclass registered by name,
               its arguments declared with their checks, per example and batched

A new op is one new module here. Pure Python at import (the ops import torch and PIL when they run).
"""
