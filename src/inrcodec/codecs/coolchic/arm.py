"""The auto-regressive model (ARM) in float, for training: causal context and Laplace rate.

Context: the `n` causal neighbours nearest to a latent (Euclidean distance, ties in raster
order) inside a window of radius `RADIUS` (rows above and columns on either side, plus the
pixels to the left on the same row); positions outside the grid read 0. Each channel of each
level is its own 2-D grid; one ARM serves them all. The integer ARM (`arm_int`) uses exactly
this context and layer structure.

"""

from __future__ import annotations

import functools

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


def residual_layers(context: int, hidden: tuple[int, ...], residual: bool) -> list[bool]:
    """Which layers add their input to their output: with `residual`, every hidden layer as
    wide as its input (the Cool-chic 1.0/2.0 ARM's residual blocks); never the output layer."""
    dims = [context, *hidden]
    return [residual and dims[i] == dims[i + 1] for i in range(len(hidden))] + [False]


class ARM(nn.Module):
    """Context -> (mu, log scale) MLP; hidden layers ReLU, optionally residual
    (relu(W x + b + x), zero-initialised as in Cool-chic 1.0/2.0)."""

    def __init__(self, context: int, hidden: tuple[int, ...], residual: bool = False) -> None:
        super().__init__()
        self.context = context
        self.offsets = context_offsets(context)
        dims = [context, *hidden, 2]
        self.layers = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(len(dims) - 1))
        self.residual = residual_layers(context, hidden, residual)
        with torch.no_grad():  # start near "mu = 0, scale = 1"
            self.layers[-1].weight.mul_(0.1)
            self.layers[-1].bias.zero_()
            for layer, res in zip(self.layers, self.residual, strict=True):
                if res:
                    layer.weight.zero_()
                    layer.bias.zero_()

    def contexts(self, grids: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """grids: [c, 1, h, w] tensors -> (context [context, N], values [N]) over every latent
        in (grid, channel, raster) order. Feature-major on purpose: on CPU, oneDNN runs W @ X
        with X [k, N] much faster than X @ W.T with X [N, k] for these small k. The context
        stacks shifted views of the zero-padded grid."""
        ctxs, values = [], []
        for g in grids:
            h, w = g.shape[-2:]
            x = F.pad(g, (RADIUS, RADIUS, RADIUS, 0))[:, 0]
            ctxs.append(torch.stack([x[:, RADIUS + dy:RADIUS + dy + h,
                                       RADIUS + dx:RADIUS + dx + w]
                                     for dy, dx in self.offsets]).reshape(self.context, -1))
            values.append(g.reshape(-1))
        if len(ctxs) == 1:
            return ctxs[0], values[0]
        return torch.cat(ctxs, dim=1), torch.cat(values)

    def forward(self, grids: list[torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (mu, log_scale, latents), flattened in (grid, channel, raster) order."""
        h, values = self.contexts(grids)
        for n, (layer, res) in enumerate(zip(self.layers, self.residual, strict=True)):
            x = torch.relu(h) if n else h
            h = torch.addmm(layer.bias[:, None], layer.weight, x)
            if res:
                h = h + x
        return h[0], h[1], values


def laplace_bits(x: torch.Tensor, mu: torch.Tensor, log_scale: torch.Tensor,
                 clamp: bool = True) -> torch.Tensor:
    """Total bits of the (quantised or proxy) latents x under Laplace(mu, b) bins of width 1;
    ln b clamped to the coder's range unless the caller bounds it (`clamp` False)."""
    b = torch.exp(log_scale.clamp(LN_SCALE_MIN, LN_SCALE_MAX) if clamp else log_scale)
    d = x - mu

    def cdf(v: torch.Tensor) -> torch.Tensor:
        # 0.5 + 0.5 sign(v) (1 - exp(-|v| / b)), written with expm1 for accuracy
        return 0.5 - 0.5 * torch.sign(v) * torch.expm1(-v.abs() / b)

    p = cdf(d + 0.5) - cdf(d - 0.5)
    return -torch.log2(p.clamp_min(MIN_PROB)).sum()


def arm_macs(context: int, hidden: tuple[int, ...]) -> int:
    dims = [context, *hidden, 2]
    return sum(dims[i] * dims[i + 1] for i in range(len(dims) - 1))
