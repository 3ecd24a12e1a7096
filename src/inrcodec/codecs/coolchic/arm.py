"""The auto-regressive model (ARM) in float, for training: causal context and Laplace rate.

Context: the `n` causal neighbours nearest to a latent (Euclidean distance, ties in raster
order) inside a window of radius `RADIUS` (rows above and columns on either side, plus the
pixels to the left on the same row); positions outside the grid read 0. Each channel of each
level is its own 2-D grid; one ARM serves them all. The integer ARM (`arm_int`) uses exactly
this context and layer structure.

The first layer is run as a convolution whose kernel is the layer's weight scattered into the
causal window, over the zero-padded grid, so one conv per level replaces the gather.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

RADIUS = 3  # window half-width: at most 3 * 7 + 3 = 24 causal neighbours
MAX_CONTEXT = RADIUS * (2 * RADIUS + 1) + RADIUS
# Laplace scales the entropy coder can express (must match arm_int's table)
LN_SCALE_MIN = -1000 / 256
LN_SCALE_MAX = (-1000 + 32 * 63) / 256
MIN_PROB = 2.0 ** -16  # lower bound of a latent's probability in the rate estimate


@functools.lru_cache(maxsize=32)
def context_offsets(n: int) -> tuple[tuple[int, int], ...]:
    """The n nearest causal (dy, dx) offsets, dy <= 0, (dy == 0 -> dx < 0)."""
    cand = [(dy, dx) for dy in range(-RADIUS, 1) for dx in range(-RADIUS, RADIUS + 1)
            if dy < 0 or dx < 0]
    cand.sort(key=lambda o: (o[0] ** 2 + o[1] ** 2, o[0], o[1]))
    return tuple(cand[:n])


def wave_factor(offsets: tuple[tuple[int, int], ...]) -> int:
    """Smallest k such that every context position of (i, j) has a smaller t = j + k * i."""
    k = 1
    for dy, dx in offsets:
        if dy < 0:
            k = max(k, dx // (-dy) + 1)
    return k


class ARM(nn.Module):
    """Context -> (mu, log scale) MLP; hidden layers ReLU."""

    def __init__(self, context: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.context = context
        self.offsets = context_offsets(context)
        dims = [context, *hidden, 2]
        self.layers = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(len(dims) - 1))
        pos = [(dy + RADIUS) * (2 * RADIUS + 1) + (dx + RADIUS) for dy, dx in self.offsets]
        self.register_buffer("kernel_pos", torch.tensor(pos, dtype=torch.long), persistent=False)
        with torch.no_grad():  # start near "mu = 0, scale = 1"
            self.layers[-1].weight.mul_(0.1)
            self.layers[-1].bias.zero_()

    def first_layer_kernel(self) -> torch.Tensor:
        w = self.layers[0].weight  # [h1, C]
        k = w.new_zeros(w.shape[0], (RADIUS + 1) * (2 * RADIUS + 1))
        k = k.index_copy(1, self.kernel_pos, w)
        return k.view(w.shape[0], 1, RADIUS + 1, 2 * RADIUS + 1)

    def forward(self, grids: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """grids: [c, 1, h, w] tensors -> (mu, log_scale) over every latent, flattened in
        (grid, channel, raster) order, and the latents themselves in that order."""
        kernel, bias = self.first_layer_kernel(), self.layers[0].bias
        feats, values = [], []
        for g in grids:
            x = F.pad(g, (RADIUS, RADIUS, RADIUS, 0))
            h = F.conv2d(x, kernel, bias)  # [c, h1, h, w]
            feats.append(h.permute(0, 2, 3, 1).reshape(-1, h.shape[1]))
            values.append(g.reshape(-1))
        h = torch.cat(feats) if len(feats) > 1 else feats[0]
        for layer in self.layers[1:]:
            h = layer(torch.relu(h))
        return h[:, 0], h[:, 1], torch.cat(values) if len(values) > 1 else values[0]


def laplace_bits(x: torch.Tensor, mu: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Total bits of the (quantised or proxy) latents x under Laplace(mu, b) bins of width 1."""
    b = torch.exp(log_scale.clamp(LN_SCALE_MIN, LN_SCALE_MAX))
    d = x - mu

    def cdf(v: torch.Tensor) -> torch.Tensor:
        # 0.5 + 0.5 sign(v) (1 - exp(-|v| / b)), written with expm1 for accuracy
        return 0.5 - 0.5 * torch.sign(v) * torch.expm1(-v.abs() / b)

    p = cdf(d + 0.5) - cdf(d - 0.5)
    return -torch.log2(p.clamp_min(MIN_PROB)).sum()


def arm_macs(context: int, hidden: tuple[int, ...]) -> int:
    dims = [context, *hidden, 2]
    return sum(dims[i] * dims[i + 1] for i in range(len(dims) - 1))


LN2 = math.log(2.0)
