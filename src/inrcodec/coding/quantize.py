"""Uniform per-tensor quantisation of network weights.

A tensor w with `bits` bits gets step = max|w| / (2^(bits-1) - 1) (stored as float32) and
integers q = round(w / step) in [-(2^(bits-1) - 1), 2^(bits-1) - 1]. `fake_quantize` is the
same rounding with a straight-through gradient, for quantisation-aware fine-tuning.
"""

from __future__ import annotations

import numpy as np
import torch

MIN_BITS, MAX_BITS = 2, 16


def qmax(bits: int) -> int:
    return (1 << (bits - 1)) - 1


def step_for(w: torch.Tensor, bits: int) -> float:
    """The float32 step that maps max|w| to the largest integer level (1.0 for an all-zero w)."""
    m = float(w.detach().abs().max()) if w.numel() else 0.0
    step = np.float32(m / qmax(bits)) if m > 0 else np.float32(1.0)
    return float(step)


def quantize(w: torch.Tensor, step: float, bits: int) -> np.ndarray:
    q = torch.round(w.detach().double() / step).clamp(-qmax(bits), qmax(bits))
    return q.to(torch.int64).cpu().numpy().astype(np.int32)


def dequantize(q: np.ndarray, step: float, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    return (torch.from_numpy(q.astype(np.float64)) * np.float32(step)).reshape(shape).float()


def fake_quantize(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Round to the tensor's current grid in the forward pass, identity gradient backward."""
    step = step_for(w, bits)
    wq = torch.round(w / step).clamp(-qmax(bits), qmax(bits)) * step
    return w + (wq - w).detach()
