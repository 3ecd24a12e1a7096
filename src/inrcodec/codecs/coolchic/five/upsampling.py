"""Separable symmetric upsampling with pre-concatenation filters (Cool-chic 3.4 / 5.0).

From the coarsest latent up, the running stack is upsampled x2 by that step's own learned
8-tap symmetric filter (4 free taps, initialised to bicubic, replicate padding: v2's
`upsample2`), cropped to the next level, and the next level's latent, first passed through its
own pre-concatenation filter, is stacked in front. The pre-filter is a 7-tap symmetric
separable filter (4 free taps) with zero padding and a residual: y = x + (w (x) w) * x; its
taps start as a Dirac, so a level enters with gain 2 and the filter learns what to smooth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..upsampling import BICUBIC_HALF, constant, upsample2

DIRAC_HALF = (0.0, 0.0, 0.0, 1.0)  # taps p1..p4 of p1 p2 p3 p4 p3 p2 p1


def _pass(x: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """7-tap symmetric filter along the last dim, zero padding."""
    n = x.shape[-1]
    xp = F.pad(x, (3, 3))
    y = half[3] * xp[..., 3:3 + n]
    for i in range(3):
        y = y + half[i] * (xp[..., i:i + n] + xp[..., 6 - i:6 - i + n])
    return y


def prefilter(x: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """x + separable 7x7 symmetric filter of x ([..., h, w])."""
    y = _pass(x, half)
    y = _pass(y.transpose(-1, -2), half).transpose(-1, -2)
    return x + y


class Upsampling5(nn.Module):
    def __init__(self, levels: int, preconcat: bool = True) -> None:
        super().__init__()
        steps = max(levels - 1, 0)

        def taps(half: tuple[float, ...]) -> nn.Parameter:
            return nn.Parameter(constant(half, steps))

        self.halves = taps(BICUBIC_HALF)
        self.pre = taps(DIRAC_HALF) if preconcat else None

    def tensors(self) -> list[torch.Tensor]:
        """File order (weights only: the filters have no bias)."""
        return [self.halves, *([self.pre] if self.pre is not None else [])]

    def forward(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """latents: [1, 1, h_k, w_k] per level, finest first -> [1, levels, H, W]."""
        x = latents[-1]
        for k in range(len(latents) - 2, -1, -1):
            y = latents[k]
            x = upsample2(x, self.halves[k])[..., :y.shape[-2], :y.shape[-1]]
            if self.pre is not None:
                y = prefilter(y, self.pre[k])
            x = torch.cat([y, x], dim=1)
        return x
