"""Classical codecs the INR codecs are compared against: JPEG, WebP, AVIF and JPEG XL.

Each baseline turns an 8-bit `Image` into the real bytes its encoder writes and decodes those
bytes back into an `Image`, so the benchmark measures baselines and INR codecs with the same
metric code. A baseline is named like a codec (`jpeg`, `webp`, `avif`, `jpegxl`) plus a
variant (JPEG's chroma subsampling) and is swept over its quality knob.

    jpeg/444   Pillow (libjpeg-turbo), 4:4:4, optimised Huffman tables
    jpeg/420   Pillow (libjpeg-turbo), 4:2:0, optimised Huffman tables
    webp       Pillow (libwebp), lossy, method 6 (slowest, best)
    avif       Pillow (libavif), speed 4, 4:4:4, one thread
    jpegxl     imagecodecs (libjxl), effort 7 (libjxl's default), quality -> distance by libjxl
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage
from PIL import features

from ..errors import ConfigError, InputError
from ..image import Image, from_codes

AVIF_SPEED = 4
JXL_EFFORT = 7
WEBP_METHOD = 6


@dataclass(frozen=True)
class Baseline:
    name: str
    variant: str  # "" when the codec has a single variant
    description: str
    qualities: tuple[int, ...]  # default sweep, chosen to span ~0.1 to ~3 bpp on Kodak
    encode: Callable[[np.ndarray, int], bytes]  # codes [H,W,C] uint8, quality -> file bytes
    decode: Callable[[bytes], np.ndarray]  # file bytes -> codes [H,W,C] uint8
    extension: str

    @property
    def label(self) -> str:
        return f"{self.name}/{self.variant}" if self.variant else self.name


@dataclass
class BaselineResult:
    data: bytes
    decoded: Image
    encode_seconds: float
    decode_seconds: float


def _to_pil(codes: np.ndarray) -> PILImage.Image:
    return PILImage.fromarray(codes[:, :, 0] if codes.shape[2] == 1 else codes)


def _pil_decode(data: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(data)) as im:
        im.load()
        arr = np.asarray(im)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _pil_encoder(fmt: str, **options) -> Callable[[np.ndarray, int], bytes]:
    def encode(codes: np.ndarray, quality: int) -> bytes:
        buf = io.BytesIO()
        _to_pil(codes).save(buf, format=fmt, quality=int(quality), **options)
        return buf.getvalue()

    return encode


def _avif_encode(codes: np.ndarray, quality: int) -> bytes:
    if not features.check("avif"):
        raise ConfigError("AVIF baseline needs Pillow built with libavif (Pillow >= 11.3)")
    sub = "4:0:0" if codes.shape[2] == 1 else "4:4:4"
    return _pil_encoder("AVIF", speed=AVIF_SPEED, subsampling=sub, max_threads=1)(codes, quality)


def _jxl_encode(codes: np.ndarray, quality: int) -> bytes:
    import imagecodecs

    arr = codes[:, :, 0] if codes.shape[2] == 1 else codes
    return bytes(imagecodecs.jpegxl_encode(arr, level=int(quality), effort=JXL_EFFORT,
                                           numthreads=1))


def _jxl_decode(data: bytes) -> np.ndarray:
    import imagecodecs

    arr = np.asarray(imagecodecs.jpegxl_decode(data))
    return arr[:, :, None] if arr.ndim == 2 else arr


_JPEG_Q = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
_WEBP_Q = (0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
_AVIF_Q = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90)
_JXL_Q = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)

BASELINES: dict[str, Baseline] = {
    b.label: b
    for b in (
        Baseline("jpeg", "444", "JPEG 4:4:4 (Pillow/libjpeg-turbo, optimize)", _JPEG_Q,
                 _pil_encoder("JPEG", subsampling=0, optimize=True), _pil_decode, "jpg"),
        Baseline("jpeg", "420", "JPEG 4:2:0 (Pillow/libjpeg-turbo, optimize)", _JPEG_Q,
                 _pil_encoder("JPEG", subsampling=2, optimize=True), _pil_decode, "jpg"),
        Baseline("webp", "", f"WebP lossy (Pillow/libwebp, method {WEBP_METHOD})", _WEBP_Q,
                 _pil_encoder("WEBP", method=WEBP_METHOD), _pil_decode, "webp"),
        Baseline("avif", "", f"AVIF 4:4:4 (Pillow/libavif, speed {AVIF_SPEED})", _AVIF_Q,
                 _avif_encode, _pil_decode, "avif"),
        Baseline("jpegxl", "", f"JPEG XL (imagecodecs/libjxl, effort {JXL_EFFORT})", _JXL_Q,
                 _jxl_encode, _jxl_decode, "jxl"),
    )
}
BASELINE_CODECS = frozenset(b.name for b in BASELINES.values())


def get_baseline(name: str, variant: str = "") -> Baseline:
    key = f"{name}/{variant}" if variant else name
    if key not in BASELINES:
        if name == "jpeg" and not variant:
            raise ConfigError("jpeg needs a variant: jpeg/444 or jpeg/420")
        raise ConfigError(f"unknown baseline {key!r} (choose from {', '.join(BASELINES)})")
    return BASELINES[key]


def run_baseline(baseline: Baseline, image: Image, quality: int) -> BaselineResult:
    """Encode `image` at `quality`, decode the bytes, and time both."""
    if image.bit_depth != 8 or image.mode == "RGBA":
        raise InputError(f"baseline {baseline.label} supports 8-bit L/RGB images only, "
                         f"got {image.bit_depth}-bit {image.mode}")
    codes = image.to_codes()
    t0 = time.perf_counter()
    data = baseline.encode(codes, quality)
    t1 = time.perf_counter()
    out = baseline.decode(data)
    if out.ndim == 3 and out.shape[2] == 3 and codes.shape[2] == 1:
        # WebP has no gray mode: it decodes gray as RGB with neutral chroma
        out = np.asarray(PILImage.fromarray(out).convert("L"))[:, :, None]
    t2 = time.perf_counter()
    if out.shape != codes.shape:
        raise InputError(f"{baseline.label} decoded {out.shape}, expected {codes.shape}")
    decoded = Image(from_codes(out.astype(np.uint8), 8), 8, image.mode)
    return BaselineResult(data, decoded, t1 - t0, t2 - t1)
