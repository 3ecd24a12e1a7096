"""Classical codecs the INR codecs are compared against, by name.

Each baseline turns integer codes [H, W, C] (uint8, or uint16 where it supports 16 bits) into
the real bytes its encoder writes, and decodes those bytes back. A baseline is named like a
codec (`jpeg`, `webp`, `avif`, `jpegxl`, `jpeg2000`) plus a variant (JPEG's chroma subsampling)
and has a quality knob that a sweep sets; a rate-matched run searches a knob instead (`search`,
see `run.encode_at_bpp`).

    jpeg/444   Pillow (libjpeg-turbo), 4:4:4, optimised Huffman tables
    jpeg/420   Pillow (libjpeg-turbo), 4:2:0, optimised Huffman tables
    webp       Pillow (libwebp), lossy, method 6 (slowest, best)
    avif       Pillow (libavif), speed 4, 4:4:4, one thread
    jpegxl     imagecodecs (libjxl), effort 7 (libjxl's default); the sweep's quality goes to
               libjxl's quality -> distance mapping, the rate search sets the distance itself
               (exp(-knob), 0.001 to 25: finer than any quality), 8 or 16 bits
    jpeg2000   imagecodecs (OpenJPEG), single layer, fixed-quality mode: the knob is the target
               PSNR in dB (1 to 99), 8 or 16 bits

Plugins add baselines with `register_baseline`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage
from PIL import features

from ..errors import ConfigError
from ..plugins import load_plugins

AVIF_SPEED = 4
JXL_EFFORT = 7
WEBP_METHOD = 6

Encoder = Callable[[np.ndarray, float], bytes]  # codes [H,W,C], knob -> file bytes


@dataclass(frozen=True)
class SearchKnob:
    """The knob a rate search bisects: encode(codes, x) for x in [lo, hi], quality rising."""

    encode: Encoder
    lo: float
    hi: float


@dataclass(frozen=True)
class Baseline:
    name: str
    variant: str  # "" when the codec has a single variant
    description: str
    qualities: tuple[int, ...]  # default sweep, chosen to span ~0.1 to ~3 bpp on Kodak
    encode: Encoder  # codes [H,W,C] (uint8/uint16), quality -> file bytes
    decode: Callable[[bytes], np.ndarray]  # file bytes -> codes [H,W,C]
    extension: str
    bit_depths: tuple[int, ...] = (8,)
    search: SearchKnob | None = None  # None: bisect the integer quality 0..100

    @property
    def label(self) -> str:
        return f"{self.name}/{self.variant}" if self.variant else self.name

    def search_knob(self) -> SearchKnob:
        if self.search is not None:
            return self.search
        return SearchKnob(lambda codes, x: self.encode(codes, int(round(x))), 0.0, 100.0)


def _plane(codes: np.ndarray) -> np.ndarray:
    return codes[:, :, 0] if codes.shape[2] == 1 else codes


def _to_pil(codes: np.ndarray) -> PILImage.Image:
    return PILImage.fromarray(_plane(codes))


def _as_hwc(arr: np.ndarray) -> np.ndarray:
    return arr[:, :, None] if arr.ndim == 2 else arr


def _pil_decode(data: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(data)) as im:
        im.load()
        arr = np.asarray(im)
    return _as_hwc(arr)


def _pil_encoder(fmt: str, **options) -> Encoder:
    def encode(codes: np.ndarray, quality: float) -> bytes:
        buf = io.BytesIO()
        _to_pil(codes).save(buf, format=fmt, quality=int(quality), **options)
        return buf.getvalue()

    return encode


def _avif_encoder(chroma: str) -> Encoder:
    def encode(codes: np.ndarray, quality: float) -> bytes:
        if not features.check("avif"):
            raise ConfigError("AVIF baseline needs Pillow built with libavif (Pillow >= 11.3)")
        sub = "4:0:0" if codes.shape[2] == 1 else chroma
        return _pil_encoder("AVIF", speed=AVIF_SPEED, subsampling=sub,
                            max_threads=1)(codes, quality)

    return encode


def _jxl_quality(codes: np.ndarray, quality: float) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.jpegxl_encode(_plane(codes), level=int(quality),
                                           effort=JXL_EFFORT, numthreads=1))


def _jxl_distance(codes: np.ndarray, knob: float) -> bytes:
    import imagecodecs

    # knob = -log(distance): larger knob, better quality (monotone for the bisection)
    return bytes(imagecodecs.jpegxl_encode(_plane(codes), distance=math.exp(-knob),
                                           effort=JXL_EFFORT, numthreads=1))


def _jxl_decode(data: bytes) -> np.ndarray:
    import imagecodecs

    return _as_hwc(np.asarray(imagecodecs.jpegxl_decode(data)))


def _j2k_encode(codes: np.ndarray, level: float) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.jpeg2k_encode(_plane(codes), level=float(level), numthreads=1))


def _j2k_decode(data: bytes) -> np.ndarray:
    import imagecodecs

    return _as_hwc(np.asarray(imagecodecs.jpeg2k_decode(data)))


_JPEG_Q = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
_WEBP_Q = (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
_AVIF_Q = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90)
_JXL_Q = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
_J2K_PSNR = (22, 25, 28, 31, 34, 37, 40, 43, 46, 50)

BASELINES: dict[str, Baseline] = {}


def register_baseline(baseline: Baseline) -> None:
    BASELINES[baseline.label] = baseline


for _b in (
    Baseline("jpeg", "444", "JPEG 4:4:4 (Pillow/libjpeg-turbo, optimize)", _JPEG_Q,
             _pil_encoder("JPEG", subsampling=0, optimize=True), _pil_decode, "jpg"),
    Baseline("jpeg", "420", "JPEG 4:2:0 (Pillow/libjpeg-turbo, optimize)", _JPEG_Q,
             _pil_encoder("JPEG", subsampling=2, optimize=True), _pil_decode, "jpg"),
    Baseline("webp", "", f"WebP lossy (Pillow/libwebp, method {WEBP_METHOD})", _WEBP_Q,
             _pil_encoder("WEBP", method=WEBP_METHOD), _pil_decode, "webp"),
    Baseline("avif", "", f"AVIF 4:4:4 (Pillow/libavif, speed {AVIF_SPEED})", _AVIF_Q,
             _avif_encoder("4:4:4"), _pil_decode, "avif"),
    # the chroma most AVIF tools default to (Pillow, libheif/ImageMagick): a weaker baseline
    # in RGB metrics at high rates, kept to show how much a study's choice of AVIF matters
    Baseline("avif", "420", f"AVIF 4:2:0 (Pillow/libavif, speed {AVIF_SPEED})", _AVIF_Q,
             _avif_encoder("4:2:0"), _pil_decode, "avif"),
    Baseline("jpegxl", "", f"JPEG XL (imagecodecs/libjxl, effort {JXL_EFFORT})", _JXL_Q,
             _jxl_quality, _jxl_decode, "jxl", bit_depths=(8, 16),
             search=SearchKnob(_jxl_distance, -math.log(25.0), -math.log(0.001))),
    Baseline("jpeg2000", "", "JPEG 2000 (imagecodecs/OpenJPEG, fixed-quality PSNR target)",
             _J2K_PSNR, _j2k_encode, _j2k_decode, "jp2", bit_depths=(8, 16),
             search=SearchKnob(_j2k_encode, 1.0, 99.0)),
):
    register_baseline(_b)


def get_baseline(name: str, variant: str = "") -> Baseline:
    key = f"{name}/{variant}" if variant else name
    if key not in BASELINES:
        load_plugins()
    if key not in BASELINES:
        if name == "jpeg" and not variant:
            raise ConfigError("jpeg needs a variant: jpeg/444 or jpeg/420")
        raise ConfigError(f"unknown baseline {key!r} (choose from {', '.join(BASELINES)})")
    return BASELINES[key]
