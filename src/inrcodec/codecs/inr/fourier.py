"""The per-pixel inputs of the coordinate networks: the (y, x) grid and its Fourier features.

PE-MLP (NeRF's gamma, base 2) and NIF (base 1.4) use the same encoding and differ only in the
base of the frequencies, so both read it from `fourier_features`.
"""

from __future__ import annotations

import functools
import math

import torch


@functools.lru_cache(maxsize=8)
def pixel_grid(height: int, width: int, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[H*W, 2] (y, x) coordinates in [-1, 1], row-major (cached: training asks every step)."""
    if torch.device(device).type == "meta":  # a cost check's shapes: torch.linspace on the
        # meta device imports torch's symbolic shapes and dynamo (~1-3 s of a first decode)
        return torch.empty(height * width, 2, device=device, dtype=dtype)
    ys = torch.linspace(-1, 1, height, device=device, dtype=dtype)
    xs = torch.linspace(-1, 1, width, device=device, dtype=dtype)
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).reshape(-1, 2)


@functools.lru_cache(maxsize=16)
def fourier_features(height: int, width: int, bands: int, base: float,
                     device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[H*W, 2 + 4*bands]: (p, sin(base^k pi p), cos(base^k pi p)) for k < bands.

    Columns: y, x, then the sines (of y for k = 0..bands-1, then of x), then the cosines in
    the same order. Cached like the grid: it is constant for a given size.
    """
    p = pixel_grid(height, width, device, dtype)
    if torch.device(device).type == "meta":  # shapes only (see pixel_grid)
        return torch.empty(p.shape[0], 2 + 4 * bands, device=device, dtype=dtype)
    scales = (base ** torch.arange(bands, device=device, dtype=dtype)) * math.pi
    ang = (p[:, :, None] * scales).reshape(p.shape[0], -1)
    return torch.cat([p, torch.sin(ang), torch.cos(ang)], dim=1)


def clear_caches() -> None:
    """Drop the cached grids and features (the decoder's, which no later call will reuse)."""
    pixel_grid.cache_clear()
    fourier_features.cache_clear()
