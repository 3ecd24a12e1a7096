"""Quality metrics on decoded images: PSNR, SSIM, MS-SSIM (and dB), LPIPS; and the registry of
task metrics that plugins add (a segmentation Dice, say).

PSNR is computed on the integer codes at the image's stored bit depth (peak 2^bits - 1), i.e. on
what the file decodes to, not on the float network output.

A task metric is a function (reference, decoded, context) -> float; `context` carries what the
image source knows beyond the pixels (for example `labels`, a ground-truth mask).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .errors import ConfigError, InputError
from .image import Image
from .plugins import load_plugins
from .ssim import ms_ssim, ssim


def _check_pair(ref: Image, dist: Image) -> None:
    if ref.data.shape != dist.data.shape:
        raise InputError(f"images differ in shape: {tuple(ref.data.shape)} vs "
                         f"{tuple(dist.data.shape)}")


def psnr(ref: Image, dist: Image) -> float:
    _check_pair(ref, dist)
    bits = max(ref.bit_depth, dist.bit_depth)
    a = _codes_at(ref, bits)
    b = _codes_at(dist, bits)
    mse = float(np.mean((a - b) ** 2))
    peak = float((1 << bits) - 1)
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def _codes_at(image: Image, bits: int) -> np.ndarray:
    codes = image.to_codes().astype(np.float64)
    if image.bit_depth != bits:  # compare an 8-bit and a 16-bit image on the finer grid
        codes = codes * ((1 << bits) - 1) / image.max_code
    return codes


def msssim_db(value: float) -> float:
    """MS-SSIM in dB: -10 log10(1 - MS-SSIM)."""
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


def evaluate(ref: Image, dist: Image, lpips: bool = True) -> dict[str, float]:
    """All image metrics of `dist` against `ref` (both snapped to their integer grids)."""
    _check_pair(ref, dist)
    x = ref.quantized().data.unsqueeze(0).double()
    y = dist.quantized().data.unsqueeze(0).double()
    with torch.no_grad():
        out = {"psnr": psnr(ref, dist), "ssim": float(ssim(y, x))}
        out["msssim"] = float(ms_ssim(y, x))
        out["msssim_db"] = msssim_db(out["msssim"])
        if lpips:
            from .lpips import lpips as lpips_fn

            out["lpips"] = float(lpips_fn(y.float(), x.float()).mean())
    return out


@dataclass(frozen=True)
class TaskMetric:
    name: str
    fn: Callable[[Image, Image, Mapping[str, Any]], float]
    label: str = ""
    higher_is_better: bool = True
    needs: tuple[str, ...] = ()  # context keys the metric cannot do without


TASK_METRICS: dict[str, TaskMetric] = {}


def register_metric(metric: TaskMetric) -> None:
    if metric.name in ("psnr", "ssim", "msssim", "msssim_db", "lpips"):
        raise ValueError(f"{metric.name!r} is a built-in metric")
    TASK_METRICS[metric.name] = metric


def task_metric(name: str) -> TaskMetric:
    """A registered task metric (plugins are loaded on first use); ConfigError if unknown."""
    if name not in TASK_METRICS:
        load_plugins()
    if name not in TASK_METRICS:
        known = ", ".join(sorted(TASK_METRICS)) or "none registered"
        raise ConfigError(f"unknown task metric {name!r} (known: {known})")
    return TASK_METRICS[name]


def evaluate_task(names: list[str] | tuple[str, ...], ref: Image, dist: Image,
                  context: Mapping[str, Any]) -> dict[str, float]:
    """The named task metrics of `dist` against `ref`."""
    out = {}
    for name in names:
        metric = task_metric(name)
        missing = [k for k in metric.needs if k not in context]
        if missing:
            raise InputError(f"metric {name!r} needs {', '.join(missing)} from the image "
                             "source (e.g. labels = \"seg.nii.gz\" in the spec)")
        out[name] = float(metric.fn(ref, dist, context))
    return out
