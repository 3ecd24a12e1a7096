"""Run a baseline on an `Image`: at a quality, or at the best quality whose real file fits a
target bit rate (bisection of the baseline's search knob).

The baseline sees the integers a PNG of the image would hold (`io.png_codes`: the codes, or a
NIfTI slice's source values) and its decoded bytes come back as an Image like the input, so
the benchmark measures baselines and INR codecs with the same metric code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage

from ..errors import InputError
from ..image import Image
from ..io.images import from_png_codes, png_codes
from .codecs import Baseline

SEARCH_STEPS = 14


@dataclass
class BaselineResult:
    data: bytes
    decoded: Image
    encode_seconds: float
    decode_seconds: float
    knob: float  # the quality, or the search knob's value that was kept


def _check(baseline: Baseline, image: Image) -> np.ndarray:
    if image.bit_depth not in baseline.bit_depths or image.mode == "RGBA":
        depths = "/".join(str(b) for b in baseline.bit_depths)
        raise InputError(f"baseline {baseline.label} supports {depths}-bit L/RGB images only, "
                         f"got {image.bit_depth}-bit {image.mode}")
    return np.ascontiguousarray(png_codes(image))


def _decode(baseline: Baseline, data: bytes, codes: np.ndarray, image: Image) -> Image:
    out = baseline.decode(data)
    if out.ndim == 3 and out.shape[2] == 3 and codes.shape[2] == 1:
        # WebP has no gray mode: it decodes gray as RGB with neutral chroma
        out = np.asarray(PILImage.fromarray(out).convert("L"))[:, :, None]
    if out.shape != codes.shape:
        raise InputError(f"{baseline.label} decoded {out.shape}, expected {codes.shape}")
    return from_png_codes(out.astype(codes.dtype), image)


def run_baseline(baseline: Baseline, image: Image, quality: float) -> BaselineResult:
    """Encode `image` at `quality`, decode the bytes, and time both."""
    codes = _check(baseline, image)
    t0 = time.perf_counter()
    data = baseline.encode(codes, quality)
    t1 = time.perf_counter()
    decoded = _decode(baseline, data, codes, image)
    return BaselineResult(data, decoded, t1 - t0, time.perf_counter() - t1, float(quality))


def encode_at_bpp(baseline: Baseline, image: Image, target_bpp: float,
                  steps: int = SEARCH_STEPS, nearest: bool = False) -> BaselineResult:
    """The best quality whose real file is <= target_bpp (or the lowest-rate setting if none
    fits): `steps` bisections of the search knob; the time is the whole search's. With
    `nearest`, the smallest file found above the target instead when it is closer to it."""
    codes = _check(baseline, image)
    knob = baseline.search_knob()
    lo, hi = knob.lo, knob.hi
    t0 = time.perf_counter()
    best_x, best = lo, knob.encode(codes, lo)
    above: tuple[float, bytes] | None = None
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        data = knob.encode(codes, mid)
        if 8.0 * len(data) / image.num_pixels <= target_bpp:
            lo, best_x, best = mid, mid, data
        else:
            hi, above = mid, (mid, data)
    target_bytes = target_bpp * image.num_pixels / 8.0
    if nearest and above is not None and (abs(len(above[1]) - target_bytes)
                                          < abs(len(best) - target_bytes)):
        best_x, best = above
    t1 = time.perf_counter()
    decoded = _decode(baseline, best, codes, image)
    return BaselineResult(best, decoded, t1 - t0, time.perf_counter() - t1, best_x)
