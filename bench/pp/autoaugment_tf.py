"""AutoAugment's image operations as google-research/sam's TensorFlow code computes them, on 8-bit RGB arrays
(H, W, 3), for the op bench.pp.ops.sam_autoaugment. Line numbers: autoaugment/autoaugment.py@dae9904.

Each function repeats its TF original step by step in float32, with TF's float-to-uint8 cast (truncation
toward zero), so that the output is the official one pixel for pixel: checked against the official
functions run on TF's CPU kernels with oneDNN off (Eigen's, as in 2020's TF; oneDNN's depthwise
convolution sums in another order and moves some `sharpness` pixels by 1). Three of the official
"PIL equivalents" are not PIL's, and are kept as the official code computes them: `contrast` blends
towards a constant of (pixel count / 256), 4 on a 32 x 32 image, where PIL blends towards the grey mean
(:171-172 sum the histogram's counts, not its values); `sharpness` truncates where PIL rounds; `color`
uses TF's grey weights (0.2989, 0.5870, 0.1140) where PIL's are 299/1000, 587/1000, 114/1000.
"""

from __future__ import annotations

import math

import numpy as np

F32 = np.float32


def blend(img1: np.ndarray, img2: np.ndarray, factor: float) -> np.ndarray:
    """:45-85: img1 + factor (img2 - img1) in float32; truncated, and clipped to [0, 255] first unless
    0 < factor < 1 (interpolation stays in range); factor 0 or 1 returns an image unchanged."""
    if factor == 0.0:
        return img1
    if factor == 1.0:
        return img2
    a = img1.astype(F32)
    temp = a + F32(factor) * (img2.astype(F32) - a)
    if 0.0 < factor < 1.0:
        return temp.astype(np.uint8)
    return np.clip(temp, F32(0.0), F32(255.0)).astype(np.uint8)


def _grey(img: np.ndarray) -> np.ndarray:
    """tf.image.rgb_to_grayscale of uint8: x * float32(1/255), the weighted sum, then * 255.5, truncated."""
    f = img.astype(F32) * F32(1.0 / 255)
    g = f[..., 0] * F32(0.2989) + f[..., 1] * F32(0.5870) + f[..., 2] * F32(0.1140)
    return (g * F32(255.5)).astype(np.uint8)


def color(img: np.ndarray, factor: float) -> np.ndarray:
    """:156-159: blend from the grey image (repeated over the channels) to the image."""
    return blend(np.repeat(_grey(img)[..., None], 3, axis=2), img, factor)


def contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """:162-176: blend from a constant image to the image. The constant is the grey histogram's total count
    over 256 (the pixel count / 256, clipped to [0, 255] and truncated), not the mean grey level."""
    h, w = img.shape[:2]
    level = np.clip(F32(h * w) / F32(256.0), F32(0.0), F32(255.0)).astype(np.uint8)
    return blend(np.full_like(img, level), img, factor)


def brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """:179-182: blend from black to the image."""
    return blend(np.zeros_like(img), img, factor)


def posterize(img: np.ndarray, bits: int) -> np.ndarray:
    """:185-188: keep the `bits` high bits of each value (1 to 8; policy_cifar uses 1 and 2)."""
    if not 1 <= bits <= 8:
        raise ValueError(f"posterize keeps 1 to 8 bits, not {bits}")
    shift = 8 - bits
    return ((img >> shift) << shift).astype(np.uint8)


def solarize(img: np.ndarray, threshold: int) -> np.ndarray:
    """:139-143: values >= threshold become 255 - value (threshold 0 inverts every pixel)."""
    return np.where(img < threshold, img, 255 - img).astype(np.uint8)


def invert(img: np.ndarray) -> np.ndarray:
    """:358-361."""
    return (255 - img).astype(np.uint8)


def autocontrast(img: np.ndarray) -> np.ndarray:
    """:250-286: each channel stretched linearly from [min, max] to [0, 255] in float32, clipped, truncated;
    a constant channel is left as it is."""
    out = img.copy()
    for c in range(img.shape[2]):
        ch = img[..., c]
        lo, hi = F32(ch.min()), F32(ch.max())
        if hi > lo:
            scale = F32(255.0) / (hi - lo)
            offset = -lo * scale
            out[..., c] = np.clip(ch.astype(F32) * scale + offset, F32(0.0), F32(255.0)).astype(np.uint8)
    return out


def sharpness(img: np.ndarray, factor: float) -> np.ndarray:
    """:289-315: blend from the image smoothed by [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 (a float32 depthwise
    convolution over the interior, clipped and truncated; the border keeps the image's pixels) to the
    image. The products are summed row by row, left to right, as the Eigen kernel does."""
    h, w = img.shape[:2]
    f = img.astype(F32)
    kernel = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], F32) / F32(13.0)
    acc = np.zeros((max(h - 2, 0), max(w - 2, 0), img.shape[2]), F32)
    for dy in range(3):
        for dx in range(3):
            acc = acc + f[dy:dy + h - 2, dx:dx + w - 2] * kernel[dy, dx]
    smoothed = img.copy()
    smoothed[1:h - 1, 1:w - 1] = np.clip(acc, F32(0.0), F32(255.0)).astype(np.uint8)
    return blend(smoothed, img, factor)


def equalize(img: np.ndarray) -> np.ndarray:
    """:318-355, PIL's algorithm per channel: step = (count of all pixels but the last non-empty bin's) // 255;
    lut = (cumulative histogram + step // 2) // step, shifted right by one bin, clipped; step 0 leaves the
    channel as it is."""
    out = img.copy()
    for c in range(img.shape[2]):
        ch = img[..., c].astype(np.int64)
        histo = np.bincount(ch.ravel(), minlength=256)
        nonzero = histo[histo != 0]
        step = (int(nonzero.sum()) - int(nonzero[-1])) // 255
        if step == 0:
            continue
        lut = (np.cumsum(histo) + step // 2) // step
        lut = np.clip(np.concatenate([[0], lut[:-1]]), 0, 255)
        out[..., c] = lut[ch].astype(np.uint8)
    return out


def _transform(img: np.ndarray, t: tuple, fill: int) -> np.ndarray:
    """tensorflow_addons' image.transform of wrap(img) with NEAREST interpolation, then unwrap (:364-407): the
    output pixel (x, y) is the input's at (t0 x + t1 y + t2, t3 x + t4 y + t5), computed in float32 and
    rounded half away from zero (std::round); where that lies outside the image, the pixel is `fill`."""
    h, w = img.shape[:2]
    ys, xs = np.meshgrid(np.arange(h, dtype=F32), np.arange(w, dtype=F32), indexing="ij")
    t0, t1, t2, t3, t4, t5 = (F32(v) for v in t)
    sx = (t0 * xs + t1 * ys + t2).astype(np.float64)  # rounded in float64: exact for float32 values
    sy = (t3 * xs + t4 * ys + t5).astype(np.float64)
    rx = np.sign(sx) * np.floor(np.abs(sx) + 0.5)
    ry = np.sign(sy) * np.floor(np.abs(sy) + 0.5)
    inside = (rx >= 0) & (rx < w) & (ry >= 0) & (ry < h)
    out = np.full_like(img, fill)
    out[inside] = img[ry[inside].astype(np.int64), rx[inside].astype(np.int64)]
    return out


def rotate(img: np.ndarray, degrees: float, fill: int) -> np.ndarray:
    """:191-213: counterclockwise by `degrees` about the centre ((w - 1) / 2, (h - 1) / 2), as
    tensorflow_addons' rotate builds the transform (float32: the official angle is a float32 tensor)."""
    h, w = (F32(n) for n in img.shape[:2])
    radians = F32(degrees) * F32(math.pi / 180.0)
    cos, sin = np.cos(radians), np.sin(radians)
    one = F32(1)
    x_offset = ((w - one) - (cos * (w - one) - sin * (h - one))) / F32(2.0)
    y_offset = ((h - one) - (sin * (w - one) + cos * (h - one))) / F32(2.0)
    return _transform(img, (cos, -sin, x_offset, sin, cos, y_offset), fill)


def translate_x(img: np.ndarray, pixels: float, fill: int) -> np.ndarray:
    """:216-219: the content moves left by `pixels` (right when negative)."""
    return _transform(img, (1, 0, pixels, 0, 1, 0), fill)


def translate_y(img: np.ndarray, pixels: float, fill: int) -> np.ndarray:
    """:222-225: the content moves up by `pixels` (down when negative)."""
    return _transform(img, (1, 0, 0, 0, 1, pixels), fill)


def shear_x(img: np.ndarray, level: float, fill: int) -> np.ndarray:
    """:228-236: the transform [1, level, 0, 0, 1, 0]."""
    return _transform(img, (1, level, 0, 0, 1, 0), fill)


def shear_y(img: np.ndarray, level: float, fill: int) -> np.ndarray:
    """:239-247: the transform [1, 0, 0, level, 1, 0]."""
    return _transform(img, (1, 0, 0, level, 1, 0), fill)


def cutout(img: np.ndarray, pad_size: int, cy: int, cx: int, fill: int) -> np.ndarray:
    """:88-136 with the centre (cy, cx) drawn: rows [cy - pad_size, cy + pad_size) and the same columns
    around cx, clipped to the image, set to `fill`."""
    h, w = img.shape[:2]
    out = img.copy()
    out[max(0, cy - pad_size):min(h, cy + pad_size), max(0, cx - pad_size):min(w, cx + pad_size)] = fill
    return out
