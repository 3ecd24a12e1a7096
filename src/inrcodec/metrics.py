"""Quality metrics on decoded images: PSNR, SSIM, MS-SSIM (and dB), LPIPS, Dice.

PSNR is computed on the integer codes at the image's stored bit depth (peak 2^bits - 1), i.e. on
what the file decodes to, not on the float network output.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .errors import InputError
from .image import Image
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


def dice(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """Hard Dice of two binary masks; 1.0 when both are empty."""
    p = np.asarray(pred, dtype=bool)
    t = np.asarray(target, dtype=bool)
    denom = p.sum() + t.sum()
    return 1.0 if denom == 0 else float(2.0 * np.logical_and(p, t).sum() / denom)
