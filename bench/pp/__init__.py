"""Pre-processing as registered ops, as big_vision's pp/: `inception_crop(384)|flip_lr|normalize(vit)`.

    grammar    the op-pipeline grammar: parse, check arguments, print canonically, split for the device
    ops        the ops, each a frozen dataclass registered by name, per example and batched

Pure Python at import (the ops import torch and PIL when they run).
"""
