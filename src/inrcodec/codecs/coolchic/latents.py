"""The latent pyramid and the quantisation proxies used while training.

Level l has ceil(H / 2^l) x ceil(W / 2^l) positions and `channels[l]` channels; latents are
quantised with step 1 (the synthesis' first layer sets the scale) and clamped to
[-LATENT_MAX, LATENT_MAX] so that the entropy coder's alphabet stays small.

Proxies for rounding (Cool-chic's training phases):
  noise      y + U(-0.5, 0.5)                                     (v1's first phase)
  softround  softround(softround(y, T) + n, T)                     (v2; T and n annealed)
             n: Gaussian with standard deviation a (Cool-chic's main phase, a 0.25 -> 0.1)
             or uniform U(-a/2, a/2); a large uniform noise at a low T leaves almost no
             gradient for the latents
  ste        round(y) forward, identity gradient                  (final phase of both)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .arm_int import LATENT_MAX


def level_shapes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    return [(-(-height // (1 << n)), -(-width // (1 << n))) for n in range(levels)]


class Latents(nn.Module):
    """`gains`: "fixed" (every grid times `gain`), or Cool-chic 1.0/2.0's learned gains, grid
    l times 2^g_l with g_l a parameter starting at l ("learned"; "learned-min1": at least 1,
    as 2.0 clamps them)."""

    def __init__(self, height: int, width: int, channels: tuple[int, ...],
                 gain: float = 1.0, gains: str = "fixed") -> None:
        super().__init__()
        self.gain, self.gains = gain, gains
        self.shapes = level_shapes(height, width, len(channels))
        self.channels = tuple(channels)
        self.grids = nn.ParameterList(nn.Parameter(torch.zeros(1, c, h, w))
                                      for c, (h, w) in zip(channels, self.shapes, strict=True))
        if gains != "fixed":
            self.log2_gains = nn.Parameter(torch.arange(float(len(channels))))

    def values(self) -> list[torch.Tensor]:
        """The latents: parameters times the encoder gain (Cool-chic's "encoder gains", which
        make the latents learn `gain` times faster than the networks under Adam)."""
        if self.gains != "fixed":
            g = torch.exp2(self.log2_gains)
            if self.gains == "learned-min1":
                g = g.clamp_min(1.0)
            return [grid * g[n] for n, grid in enumerate(self.grids)]
        if self.gain == 1.0:
            return list(self.grids)
        return [g * self.gain for g in self.grids]


def softround(x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    m = torch.floor(x) + 0.5
    if isinstance(t, torch.Tensor):
        return m + 0.5 * torch.tanh((x - m) / t) / torch.tanh(0.5 / t)
    return m + 0.5 * torch.tanh((x - m) / t) / math.tanh(0.5 / t)


NOISE_TYPES = ("uniform", "gaussian")


def proxy(y: torch.Tensor, mode: str, temperature: float | torch.Tensor = 0.3,
          noise: float | torch.Tensor = 1.0, noise_type: str = "uniform") -> torch.Tensor:
    """temperature and noise may be 0-d tensors (so a compiled step does not recompile)."""
    y = y.clamp(-LATENT_MAX, LATENT_MAX)
    if mode == "noise":
        return y + (torch.rand_like(y) - 0.5)
    if mode == "softround":
        if noise_type == "gaussian":
            u = torch.randn_like(y) * noise
        else:
            u = (torch.rand_like(y) - 0.5) * noise
        return softround(softround(y, temperature) + u, temperature)
    if mode == "ste":
        return y + (torch.round(y) - y).detach()
    if mode == "round":
        return torch.round(y)
    raise ValueError(f"unknown quantisation proxy {mode!r}")
