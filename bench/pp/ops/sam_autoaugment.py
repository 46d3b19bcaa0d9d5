"""sam_autoaugment: AutoAugment as google-research/sam applies it to CIFAR (its policy_cifar and constants).

A bare ":N" is a line of autoaugment/autoaugment.py@dae9904 (google-research/sam).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.pp.core import SIZE, Op, arg, is_tensor, register

MAX_LEVEL = 10.0  # autoaugment/autoaugment.py@dae9904:35

# autoaugment/policies.py@dae9904:59-185, policy_cifar: 95 sub-policies of two (op, probability, level),
# in the official order (exp0s + exp1s + exp2s, :182-185). Some probabilities are 0.0: never applied.
CIFAR = (
    # exp0_0, policies.py:69-73
    (("Invert", 0.1, 7), ("Contrast", 0.2, 6)),
    (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
    (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
    (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.5, 8), ("Equalize", 0.9, 2)),
    # exp0_1, policies.py:75-79
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, 3)),
    (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, 2), ("Solarize", 0.8, 3)),
    (("Equalize", 0.8, 8), ("Invert", 0.1, 3)),
    (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, 1)),
    # exp0_2, policies.py:81-85
    (("Solarize", 0.4, 5), ("AutoContrast", 0.0, 2)),
    (("TranslateY", 0.7, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, 0), ("Solarize", 0.4, 3)),
    (("Equalize", 0.7, 5), ("Invert", 0.1, 3)),
    (("TranslateY", 0.7, 9), ("TranslateY", 0.7, 9)),
    # exp0_3, policies.py:87-91
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, 1)),
    (("TranslateY", 0.8, 9), ("TranslateY", 0.9, 9)),
    (("AutoContrast", 0.8, 0), ("TranslateY", 0.7, 9)),
    (("TranslateY", 0.2, 7), ("Color", 0.9, 6)),
    (("Equalize", 0.7, 6), ("Color", 0.4, 9)),
    # exp1_0, policies.py:93-97
    (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
    (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
    (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
    (("Equalize", 0.6, 5), ("Equalize", 0.5, 1)),
    (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
    # exp1_1, policies.py:99-103
    (("Brightness", 0.3, 7), ("AutoContrast", 0.5, 8)),
    (("AutoContrast", 0.9, 4), ("AutoContrast", 0.5, 6)),
    (("Solarize", 0.3, 5), ("Equalize", 0.6, 5)),
    (("TranslateY", 0.2, 4), ("Sharpness", 0.3, 3)),
    (("Brightness", 0.0, 8), ("Color", 0.8, 8)),
    # exp1_2, policies.py:105-109
    (("Solarize", 0.2, 6), ("Color", 0.8, 6)),
    (("Solarize", 0.2, 6), ("AutoContrast", 0.8, 1)),
    (("Solarize", 0.4, 1), ("Equalize", 0.6, 5)),
    (("Brightness", 0.0, 0), ("Solarize", 0.5, 2)),
    (("AutoContrast", 0.9, 5), ("Brightness", 0.5, 3)),
    # exp1_3, policies.py:111-115
    (("Contrast", 0.7, 5), ("Brightness", 0.0, 2)),
    (("Solarize", 0.2, 8), ("Solarize", 0.1, 5)),
    (("Contrast", 0.5, 1), ("TranslateY", 0.2, 9)),
    (("AutoContrast", 0.6, 5), ("TranslateY", 0.0, 9)),
    (("AutoContrast", 0.9, 4), ("Equalize", 0.8, 4)),
    # exp1_4, policies.py:117-121
    (("Brightness", 0.0, 7), ("Equalize", 0.4, 7)),
    (("Solarize", 0.2, 5), ("Equalize", 0.7, 5)),
    (("Equalize", 0.6, 8), ("Color", 0.6, 2)),
    (("Color", 0.3, 7), ("Color", 0.2, 4)),
    (("AutoContrast", 0.5, 2), ("Solarize", 0.7, 2)),
    # exp1_5, policies.py:123-127
    (("AutoContrast", 0.2, 0), ("Equalize", 0.1, 0)),
    (("ShearY", 0.6, 5), ("Equalize", 0.6, 5)),
    (("Brightness", 0.9, 3), ("AutoContrast", 0.4, 1)),
    (("Equalize", 0.8, 8), ("Equalize", 0.7, 7)),
    (("Equalize", 0.7, 7), ("Solarize", 0.5, 0)),
    # exp1_6, policies.py:129-133
    (("Equalize", 0.8, 4), ("TranslateY", 0.8, 9)),
    (("TranslateY", 0.8, 9), ("TranslateY", 0.6, 9)),
    (("TranslateY", 0.9, 0), ("TranslateY", 0.5, 9)),
    (("AutoContrast", 0.5, 3), ("Solarize", 0.3, 4)),
    (("Solarize", 0.5, 3), ("Equalize", 0.4, 4)),
    # exp2_0, policies.py:135-139
    (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
    (("Equalize", 0.3, 7), ("AutoContrast", 0.4, 8)),
    (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
    (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
    (("Solarize", 0.5, 2), ("Invert", 0.0, 3)),
    # exp2_1, policies.py:141-145
    (("AutoContrast", 0.1, 5), ("Brightness", 0.0, 0)),
    (("Cutout", 0.2, 4), ("Equalize", 0.1, 1)),
    (("Equalize", 0.7, 7), ("AutoContrast", 0.6, 4)),
    (("Color", 0.1, 8), ("ShearY", 0.2, 3)),
    (("ShearY", 0.4, 2), ("Rotate", 0.7, 0)),
    # exp2_2, policies.py:147-151
    (("ShearY", 0.1, 3), ("AutoContrast", 0.9, 5)),
    (("TranslateY", 0.3, 6), ("Cutout", 0.3, 3)),
    (("Equalize", 0.5, 0), ("Solarize", 0.6, 6)),
    (("AutoContrast", 0.3, 5), ("Rotate", 0.2, 7)),
    (("Equalize", 0.8, 2), ("Invert", 0.4, 0)),
    # exp2_3, policies.py:153-157
    (("Equalize", 0.9, 5), ("Color", 0.7, 0)),
    (("Equalize", 0.1, 1), ("ShearY", 0.1, 3)),
    (("AutoContrast", 0.7, 3), ("Equalize", 0.7, 0)),
    (("Brightness", 0.5, 1), ("Contrast", 0.1, 7)),
    (("Contrast", 0.1, 4), ("Solarize", 0.6, 5)),
    # exp2_4, policies.py:159-163
    (("Solarize", 0.2, 3), ("ShearX", 0.0, 0)),
    (("TranslateX", 0.3, 0), ("TranslateX", 0.6, 0)),
    (("Equalize", 0.5, 9), ("TranslateY", 0.6, 7)),
    (("ShearX", 0.1, 0), ("Sharpness", 0.5, 1)),
    (("Equalize", 0.8, 6), ("Invert", 0.3, 6)),
    # exp2_5, policies.py:165-169
    (("AutoContrast", 0.3, 9), ("Cutout", 0.5, 3)),
    (("ShearX", 0.4, 4), ("AutoContrast", 0.9, 2)),
    (("ShearX", 0.0, 3), ("Posterize", 0.0, 3)),
    (("Solarize", 0.4, 3), ("Color", 0.2, 4)),
    (("Equalize", 0.1, 4), ("Equalize", 0.7, 6)),
    # exp2_6, policies.py:171-175
    (("Equalize", 0.3, 8), ("AutoContrast", 0.4, 3)),
    (("Solarize", 0.6, 4), ("AutoContrast", 0.7, 6)),
    (("AutoContrast", 0.2, 9), ("Brightness", 0.4, 8)),
    (("Equalize", 0.1, 0), ("Equalize", 0.0, 6)),
    (("Equalize", 0.8, 4), ("Equalize", 0.0, 4)),
    # exp2_7, policies.py:177-181
    (("Equalize", 0.5, 5), ("AutoContrast", 0.1, 2)),
    (("Solarize", 0.5, 5), ("AutoContrast", 0.9, 5)),
    (("AutoContrast", 0.6, 1), ("AutoContrast", 0.7, 8)),
    (("Equalize", 0.2, 0), ("AutoContrast", 0.1, 2)),
    (("Equalize", 0.6, 9), ("Equalize", 0.4, 4)),
)
POLICIES = {"cifar": CIFAR}

NEGATED = frozenset({"Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY"})  # :437-467, a random sign
ENHANCE = frozenset({"Color", "Contrast", "Brightness", "Sharpness"})


def level_arg(name: str, level: int, translate: int, cutout: int) -> float | int | None:
    """The op's argument at `level` (autoaugment.py@dae9904:437-492, level_to_arg), before the random sign;
    None for the ops that take none."""
    m = level / MAX_LEVEL
    if name in ("AutoContrast", "Equalize", "Invert"):
        return None
    if name == "Rotate":
        return m * 30.0  # degrees
    if name == "Posterize":
        return int(m * 4)  # bits kept
    if name == "Solarize":
        return int(m * 256)  # threshold
    if name in ENHANCE:
        return m * 1.8 + 0.1  # blend factor, in [0.1, 1.9]
    if name in ("ShearX", "ShearY"):
        return m * 0.3
    if name in ("TranslateX", "TranslateY"):
        return m * float(translate)  # pixels
    if name == "Cutout":
        return int(m * cutout)  # half the side of the square
    raise KeyError(name)


@register
@dataclass(frozen=True)
class SamAutoAugment(Op):
    """AutoAugment (Cubuk et al. 2019) as google-research/sam's TensorFlow code applies it
    (autoaugment/autoaugment.py@dae9904:601-623): one of the policy's sub-policies uniformly, then each of its
    two ops with its probability, in order, with the official level-to-argument mapping and random sign
    (:430-492). `policy`: policy_cifar (policies.py:59-185, 95 sub-policies); `fill`: the value of the pixels
    that geometric ops uncover and of Cutout's square (replace_value, :568); `translate` and `cutout`: the
    pixels of a level-10 translation and half the side of a level-10 Cutout square (HParams, :621). At
    32 px the official 250 and 100 turn any translation of level 2 or more, and any Cutout of policy_cifar,
    into an (almost) uniformly grey image: about 12% of the training images. The pixel operations are
    bench.pp.autoaugment_tf, the official ones pixel for pixel (its docstring says where they are not PIL's);
    the random draws come from torch's global RNG (seeded per example), in the order `augment` gives."""

    name: ClassVar[str] = "sam_autoaugment"
    batched: ClassVar[bool] = False
    random: ClassVar[bool] = True
    policy: str = arg("cifar", choices=tuple(POLICIES))
    fill: int = arg(128, lo=0, hi=255)
    translate: int = arg(250, lo=0, hi=SIZE[1])
    cutout: int = arg(100, lo=0, hi=SIZE[1])

    def example(self, img):
        import numpy as np
        from PIL import Image

        if is_tensor(img) or img.mode != "RGB":
            from bench.errors import BenchError

            raise BenchError(f"{self.name} works on 8-bit RGB images: put it before normalize (got "
                             f"{'a tensor' if is_tensor(img) else img.mode + ' image'})")
        return Image.fromarray(self.augment(np.asarray(img)))

    def augment(self, img):
        """One uint8 (H, W, 3) array through one sub-policy, drawing from torch's global RNG in this order: the
        sub-policy (torch.randint, :541); for each of its ops u = torch.rand(), the op applied when
        floor(u + probability) is 1 in float32 (:530-531); an applied op with a sign draws v = torch.rand()
        and is negated unless floor(v + 0.5) is 1 (:432); an applied Cutout draws its centre's row, then
        column, uniformly over the image (torch.randint, :111-117)."""
        import numpy as np
        import torch

        policy = POLICIES[self.policy]
        for name, prob, level in policy[int(torch.randint(len(policy), ()))]:
            if np.floor(np.float32(float(torch.rand(()))) + np.float32(prob)) < 1:
                continue
            img = self.apply(img, name, level)
        return img

    def apply(self, img, name: str, level: int):
        """One op of the policy at `level`, applied (its sign or Cutout's centre drawn from torch's global RNG)."""
        import numpy as np
        import torch

        from bench.pp import autoaugment_tf as aa

        value = level_arg(name, level, self.translate, self.cutout)
        if name in NEGATED and np.floor(np.float32(float(torch.rand(()))) + np.float32(0.5)) < 1:
            value = -value
        if name == "Cutout":
            cy, cx = int(torch.randint(img.shape[0], ())), int(torch.randint(img.shape[1], ()))
            return aa.cutout(img, value, cy, cx, self.fill)
        if value is None:
            return {"AutoContrast": aa.autocontrast, "Equalize": aa.equalize, "Invert": aa.invert}[name](img)
        geometric = {"Rotate": aa.rotate, "ShearX": aa.shear_x, "ShearY": aa.shear_y,
                     "TranslateX": aa.translate_x, "TranslateY": aa.translate_y}
        if name in geometric:
            return geometric[name](img, value, self.fill)
        return {"Posterize": aa.posterize, "Solarize": aa.solarize, "Color": aa.color, "Contrast": aa.contrast,
                "Brightness": aa.brightness, "Sharpness": aa.sharpness}[name](img, value)
