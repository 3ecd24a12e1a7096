"""JPEG 2000 and JPEG XL on 16-bit MRI slices, rate-matched by bisecting their quality knob.

Both get the slice as uint16 source values minus the slice minimum (non-negative, original
integer units; the same array a 16-bit PNG of the slice holds) and are decoded back to values.

    jpeg2000  imagecodecs (OpenJPEG), single layer, fixed-quality mode: `level` = target PSNR
              in dB, bisected in [1, 99]
    jpegxl    imagecodecs (libjxl), effort 7, `distance` bisected on a log scale in [0.001, 25]

The search keeps the best-quality setting whose real file bpp is <= the target.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

JXL_EFFORT = 7


@dataclass
class ClassicalResult:
    codec: str
    knob: float
    bpp: float
    decoded: np.ndarray  # [H, W] uint16, same units as the input


def _j2k(arr: np.ndarray, q: float) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.jpeg2k_encode(arr, level=float(q), numthreads=1))


def _j2k_dec(data: bytes) -> np.ndarray:
    import imagecodecs

    return np.asarray(imagecodecs.jpeg2k_decode(data))


def _jxl(arr: np.ndarray, q: float) -> bytes:
    import imagecodecs

    # q is -log(distance): larger q, better quality (monotone knob for the bisection)
    return bytes(imagecodecs.jpegxl_encode(arr, distance=math.exp(-q), effort=JXL_EFFORT,
                                           numthreads=1))


def _jxl_dec(data: bytes) -> np.ndarray:
    import imagecodecs

    return np.asarray(imagecodecs.jpegxl_decode(data))


CLASSICAL: dict[str, tuple[Callable, Callable, float, float]] = {
    "jpeg2000": (_j2k, _j2k_dec, 1.0, 99.0),
    "jpegxl": (_jxl, _jxl_dec, -math.log(25.0), -math.log(0.001)),
}


def encode_at_bpp(codec: str, arr: np.ndarray, target_bpp: float, iters: int = 14
                  ) -> ClassicalResult:
    """Best quality with real bpp <= target (or the lowest-rate setting if none fits)."""
    if codec not in CLASSICAL:
        raise ConfigError(f"unknown classical codec {codec!r} (choose from "
                          f"{', '.join(CLASSICAL)})")
    enc, dec, lo, hi = CLASSICAL[codec]
    arr = np.ascontiguousarray(arr, dtype=np.uint16)
    n = arr.size
    best_q, best = lo, enc(arr, lo)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        data = enc(arr, mid)
        if 8.0 * len(data) / n <= target_bpp:
            lo, best_q, best = mid, mid, data
        else:
            hi = mid
    decoded = dec(best).reshape(arr.shape).astype(np.uint16)
    return ClassicalResult(codec, best_q, 8.0 * len(best) / n, decoded)
