"""The Python API: encode an image into .inr bytes, decode them back, measure.

    import inrcodec
    data = inrcodec.encode("kodim23.png")                  # the default codec, quick preset
    data = inrcodec.encode("kodim23.png", codec="siren", loss="mse", steps=2000)
    data.bpp, data.metrics["psnr"]          # the result is the file's bytes, with attributes
    image = inrcodec.decode(data)
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import replace
from typing import Any

import torch

from . import __version__
from .codecs.base import Codec, ProgressFn
from .codecs.registry import get_codec
from .coding import container
from .coding.container import Container, ImageInfo
from .coding.limits import Cost, DecodeLimits
from .compiling import use_persistent_cache
from .errors import ConfigError, DecodeError, InputError
from .fitting import deterministic, time_limit
from .image import Image
from .io import read_image
from .losses import Loss, WeightedSum, parse_loss
from .metrics import evaluate as _evaluate


class EncodeResult(bytes):
    """The encoded file (a `bytes`), carrying what the encoder knows about it."""

    codec: str
    loss: str
    preset: str
    settings: dict[str, Any]
    seed: int
    device: str
    encode_seconds: float
    reconstruction: Image
    metrics: dict[str, float]
    log: dict[str, Any]
    num_pixels: int
    payload_bytes: int

    @property
    def bpp(self) -> float:
        """Bits per pixel of the whole file, header and CRC included."""
        return 8.0 * len(self) / self.num_pixels

    @property
    def payload_bpp(self) -> float:
        """Bits per pixel of the payload sections alone."""
        return 8.0 * self.payload_bytes / self.num_pixels

    def summary(self) -> dict[str, Any]:
        """Everything needed to reproduce and compare this encode (JSON-serialisable)."""
        return {
            "codec": self.codec, "preset": self.preset, "loss": self.loss, "seed": self.seed,
            "settings": self.settings, "device": self.device, "bytes": len(self),
            "bpp": self.bpp, "payload_bpp": self.payload_bpp, "metrics": self.metrics,
            "encode_seconds": self.encode_seconds, "log": self.log, "versions": versions(),
        }


def versions() -> dict[str, str]:
    return {"inrcodec": __version__, "torch": torch.__version__,
            "python": platform.python_version(), "machine": platform.machine()}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"unknown device {device!r} (use auto, cpu or cuda)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but is not available on this machine")
    return torch.device(device)


def as_image(image_or_path: Image | str | os.PathLike, slice: int | None = None) -> Image:
    """An Image, or a path to read (`slice`: the axial slice of a NIfTI volume)."""
    if isinstance(image_or_path, Image):
        return image_or_path
    if isinstance(image_or_path, str | os.PathLike):
        return read_image(image_or_path, slice=slice)
    raise InputError(f"expected an Image or a path, got {type(image_or_path).__name__}")


def image_info(image: Image) -> ImageInfo:
    extra = {k: v for k, v in image.meta.items() if k != "source"}
    return ImageInfo(image.height, image.width, image.channels, image.bit_depth, image.mode,
                     image.offset, image.scale, extra)


DEFAULT_CODEC = "coolchic"


def default_preset(codec: str) -> str:
    """The preset used when none is given: Cool-chic's quick `fast` (its `default` preset is a
    long encode on a CPU), every other codec's `default`."""
    return "fast" if codec.startswith("coolchic") else "default"


def encode(
    image_or_path: Image | str | os.PathLike,
    codec: str = DEFAULT_CODEC,
    loss: str | Loss = "mse",
    preset: str | None = None,
    *,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: ProgressFn | None = None,
    metrics: bool = True,
    lpips: bool = True,
    budget: float | None = None,
    target_bpp: float | None = None,
    target_psnr: float | None = None,
    tolerance: float = 0.05,
    **settings: Any,
) -> EncodeResult:
    """Overfit `codec` to the image and return the .inr file bytes (an `EncodeResult`).

    `settings` are the codec's knobs (steps, lr, bits, layers, width, lmbda, ...); unknown names
    raise ConfigError listing the valid ones. `loss` is a registry name, a weighted sum such as
    "0.8*l1+0.2*ssim", or any callable(pred, target) on [N,C,H,W] tensors. `preset` defaults
    to `default_preset(codec)`. `budget`: seconds the whole encode may take; the schedule is
    scaled to fit it (budget.py) and training stops at the deadline keeping its best state.
    `target_bpp` / `target_psnr`: search the codec's rate setting (targeting.py) until the
    file is within `tolerance` of the target (the tries are in `result.log["target"]`; a
    target that cannot be met gives the closest file and a RuntimeWarning).
    """
    t0 = time.perf_counter()
    image = as_image(image_or_path)
    if not bool(torch.isfinite(image.data).all()):
        raise InputError("the image holds NaN or infinite values")
    use_persistent_cache()  # before any step: the first eager one may set torch's default
    impl = get_codec(codec)
    preset = default_preset(codec) if preset is None else preset
    cfg = impl.make_settings(preset, **settings)
    loss_fn = parse_loss(loss) if isinstance(loss, str) else loss
    dev = resolve_device(device)
    if target_bpp is not None or target_psnr is not None:
        if budget is not None:
            raise ConfigError("a target (bpp or PSNR) and a time budget cannot be combined")
        from .targeting import search

        tries = iter(range(1, 1000))

        def attempt(**over: Any) -> EncodeResult:
            n = next(tries)
            relabel = None if progress is None else (
                lambda p: progress(type(p)(f"{n}:{p.phase}", p.step, p.total, p.loss, p.psnr)))
            return encode(image, codec, loss_fn, preset, seed=seed, device=dev,
                          progress=relabel, metrics=True, lpips=False,
                          **(settings | over))

        result, log = search(attempt, codec, cfg, target_bpp=target_bpp,
                             target_psnr=target_psnr, tolerance=tolerance)
        result.log["target"] = log
        result.encode_seconds = time.perf_counter() - t0
        if metrics and lpips:
            result.metrics = _evaluate(image, result.reconstruction, lpips=True)
        elif not metrics:
            result.metrics = {}
        return result
    plan = None
    if budget is not None:
        from .budget import plan as plan_budget

        plan = plan_budget(impl, image, cfg, budget, dev)
        cfg = plan.settings
    torch.manual_seed(seed)
    with deterministic(), time_limit(None if plan is None else plan.deadline(t0),
                                     None if plan is None else plan.share,
                                     None if plan is None else t0 + plan.seconds):
        out = impl.encode(image, loss_fn, cfg, device=dev, seed=seed, progress=progress)
    data = container.pack(Container(codec, out.config, image_info(image), out.sections))
    seconds = time.perf_counter() - t0
    if plan is not None:
        out.log["budget"] = plan.log()
    result = EncodeResult(data)
    result.codec, result.preset, result.seed, result.device = codec, preset, seed, str(dev)
    result.loss = (str(loss_fn) if isinstance(loss_fn, WeightedSum)
                   else getattr(loss_fn, "__name__", "custom"))
    result.settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(cfg).items()}
    result.encode_seconds = seconds
    result.reconstruction = image.with_data(out.reconstruction)
    result.log = out.log
    result.num_pixels = image.num_pixels
    result.payload_bytes = sum(len(s) for s in out.sections.values())
    result.metrics = _evaluate(image, result.reconstruction, lpips=lpips) if metrics else {}
    return result


def _parse(data: bytes) -> tuple[Container, Codec, Any, Cost]:
    """The container, its codec, settings and decode cost, every field checked; nothing of the
    model is allocated."""
    c = container.unpack(data)
    try:
        impl = get_codec(c.codec)
    except ConfigError:
        raise DecodeError(f"file uses codec {c.codec!r}, unknown to this inrcodec") from None
    settings = impl.settings_from_sections(impl.settings_from_config(c.config), c.sections)
    cost = impl.decode_cost(settings, c.image)
    # the file, its copy and the sections sliced from it stay alive through the decode
    cost = replace(cost, peak_bytes=cost.peak_bytes + 3 * len(data))
    return c, impl, settings, cost


def decode(data: bytes, device: str | torch.device = "auto", *,
           limits: DecodeLimits | None = None) -> Image:
    """Decode .inr bytes to an Image (raises DecodeError on anything malformed).

    Before anything is allocated the file's decode cost (parameters, MACs, peak memory; see
    `coding.limits`) is checked against `limits`: `DecodeLimits()` by default, which accepts
    every preset of every codec up to 768x512. Raise them for a trusted file, e.g.
    `limits=DecodeLimits(max_macs=1e12)` or `DecodeLimits.unlimited()`."""
    limits = DecodeLimits() if limits is None else limits
    if isinstance(data, bytes | bytearray | memoryview):
        limits.check_file_size(len(data))
    c, impl, settings, cost = _parse(data)
    limits.check(cost, c.codec)
    # the codec checks its sections first (Codec.section_bounds)
    pixels = impl.decode(settings, c.sections, c.image, device=resolve_device(device))
    if tuple(pixels.shape) != (c.image.channels, c.image.height, c.image.width):
        raise DecodeError("decoder produced an image of the wrong shape")
    if not bool(torch.isfinite(pixels).all()):
        raise DecodeError(f"{c.codec}: decoded values are not finite (corrupt file)")
    meta = dict(c.image.extra)
    image = Image(pixels.float().clamp(0, 1), c.image.bit_depth, c.image.mode,
                  c.image.offset, c.image.scale, meta)
    return image.quantized()


def decode_cost(data: bytes) -> Cost:
    """What decoding the file would cost (parameters, MACs, peak memory), from its header."""
    return _parse(data)[3]


def info(data: bytes) -> dict[str, Any]:
    """Describe a file without decoding the pixels: its decode cost included, or, for a file
    whose codec or config this inrcodec refuses, why (`decode_error`)."""
    c = container.unpack(data)
    try:
        cost: dict[str, int] | None = _parse(data)[3].to_dict()
        problem = None
    except DecodeError as exc:
        cost, problem = None, str(exc)
    pixels = c.image.height * c.image.width
    payload = sum(len(s) for s in c.sections.values())
    try:
        impl = get_codec(c.codec)
    except ConfigError:
        extra: dict[str, Any] = {}  # a codec this inrcodec does not know: the container only
    else:
        extra = impl.describe(impl.settings_from_config(c.config), c.image, c.sections)
    return extra | {
        "codec": c.codec, "config": c.config, "format_version": data[4],
        "image": {"height": c.image.height, "width": c.image.width,
                  "channels": c.image.channels, "mode": c.image.mode,
                  "bit_depth": c.image.bit_depth},
        "bytes": len(data), "payload_bytes": payload,
        "sections": {k: len(v) for k, v in c.sections.items()},
        "bpp": 8.0 * len(data) / pixels, "payload_bpp": 8.0 * payload / pixels,
        "decode_cost": cost, "decode_error": problem,
    }


def evaluate(ref: Image | str | os.PathLike, dist: Image | str | os.PathLike,
             lpips: bool = True) -> dict[str, float]:
    """PSNR, SSIM, MS-SSIM (+dB) and LPIPS of `dist` against `ref`."""
    return _evaluate(as_image(ref), as_image(dist), lpips=lpips)
