"""The float entropy model used in training: contexts, IFCE and the ARM.

ARM (one for every grid): input C = S + F (S causal neighbours by priority rank, then F
inter-feature values, zeros for a grid without an IFCE); `hidden` blocks h <- ReLU(W h + b + h)
whose weights start at zero (each block starts as the identity on ReLU'd inputs), an output
layer C -> 2, and a linear stabiliser C -> 2 on the raw input added to it. mu = out[0],
ln b = out[1] - 4 (clamped to the entropy coder's range by `laplace_bits`).

IFCE of level k: one linear map from the grids coded before level k (layout.ifce_stack) to F
features at level k + 1's resolution, nearest-upsampled x2 to level k.

Every grid lives in one flat vector in coding order (`CoolChic5Model.values`); `Gather` holds,
once per model, the indices that pick every context value out of it (0 picks a padding zero),
so that the contexts are one gather forward and one scatter-add backward whatever the number
of grids. Tensors are feature-major ([features, positions]): on CPU, W @ X with X [k, N] runs
much faster than X @ W.T for these narrow layers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .layout import PRIORITY, Layout, ifce_stack, nearest2

IFCE_CLIP = 4096.0  # |IFCE output| bound, shared with the integer decoder (keeps it exact)


def offsets(spatial: int) -> tuple[tuple[int, int], ...]:
    return PRIORITY[:spatial]


def pads(offs: tuple[tuple[int, int], ...]) -> tuple[int, int, int]:
    """(left, right, top) zero padding that every context position needs."""
    return (max([0, *(-dx for _, dx in offs)]), max([0, *(dx for _, dx in offs)]),
            max([0, *(-dy for dy, _ in offs)]))


class Gather:
    """Index tensors into [0, flat values...] (index i + 1 is flat value i)."""

    def __init__(self, layout: Layout, spatial: int) -> None:
        offs = offsets(spatial)
        left, right, top = pads(offs)
        ids, base = {}, 1
        for g in layout.order:
            ids[g] = np.arange(base, base + g.size, dtype=np.int64).reshape(g.shape)
            base += g.size
        rows = []
        for g in layout.order:
            h, w = g.shape
            p = np.pad(ids[g], ((top, 0), (left, right)))
            rows.append(np.stack([p[top + dy:top + dy + h, left + dx:left + dx + w].reshape(-1)
                                  for dy, dx in offs]) if offs else np.zeros((0, g.size),
                                                                               np.int64))
        self.spatial = torch.from_numpy(np.concatenate(rows, axis=1))
        self.ifce: dict[int, torch.Tensor] = {}  # level -> [inputs, positions of level + 1]
        self.up: dict[int, torch.Tensor] = {}  # level -> [positions]: level + 1 position
        for k in layout.ifce_levels:
            st = ifce_stack(layout, ids, k)
            self.ifce[k] = torch.from_numpy(st.reshape(st.shape[0], -1))
            src = layout.latents[k + 1].shape
            pos = np.arange(src[0] * src[1], dtype=np.int64).reshape(src)
            self.up[k] = torch.from_numpy(
                nearest2(pos, layout.latents[k].shape, (0, 1)).reshape(-1))
        # positions before the first IFCE level's latent get zero features
        late = [layout.latents[k] for k in layout.ifce_levels]
        self.plain = sum(g.size for g in layout.order if g not in late)
        self.late_levels = [g.level for g in layout.order if g in late]


def init_linear(layer: nn.Linear) -> None:
    """5.0's non-residual init: N(0, 1) / out^2, bias zero."""
    if layer.weight.is_meta:  # a cost check's structure: random draws there import dynamo (~3 s)
        return
    with torch.no_grad():
        layer.weight.normal_(0, 1).div_(layer.out_features ** 2)
        layer.bias.zero_()


class ARM5(nn.Module):
    def __init__(self, spatial: int, features: int, hidden: int, stabiliser: bool = True
                 ) -> None:
        super().__init__()
        c = spatial + features
        self.spatial, self.features, self.width = spatial, features, c
        self.offsets = offsets(spatial)
        self.hidden = nn.ModuleList(nn.Linear(c, c) for _ in range(hidden))
        for layer in self.hidden:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.out = nn.Linear(c, 2)
        init_linear(self.out)
        self.stab = nn.Linear(c, 2) if stabiliser else None
        if self.stab is not None:
            init_linear(self.stab)

    def layers(self) -> list[nn.Linear]:
        """File order: hidden layers, output, stabiliser."""
        return [*self.hidden, self.out, *([self.stab] if self.stab is not None else [])]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [C, N] -> (mu [N], ln b [N])."""
        h = x
        for layer in self.hidden:
            h = torch.relu(torch.addmm(layer.bias[:, None], layer.weight, h) + h)
        out = torch.addmm(self.out.bias[:, None], self.out.weight, h)
        if self.stab is not None:
            out = out + torch.addmm(self.stab.bias[:, None], self.stab.weight, x)
        return out[0], out[1] - 4.0


class IFCE(nn.Module):
    """One linear map per level with an IFCE (`layout.ifce_levels`)."""

    def __init__(self, layout: Layout) -> None:
        super().__init__()
        self.levels = layout.ifce_levels
        self.maps = nn.ModuleList(nn.Linear(layout.ifce_inputs(k), layout.features)
                                  for k in self.levels)
        for m in self.maps:
            init_linear(m)

    def layers(self) -> list[nn.Linear]:
        return list(self.maps)

    def forward(self, qz: torch.Tensor, gather: Gather) -> dict[int, torch.Tensor]:
        """qz = [0, flat values] -> level: [F, positions of the level]."""
        out = {}
        for k, m in zip(self.levels, self.maps, strict=True):
            f = torch.addmm(m.bias[:, None], m.weight, qz[gather.ifce[k]])
            out[k] = f.clamp(-IFCE_CLIP, IFCE_CLIP)[:, gather.up[k]]
        return out


def arm_input(qz: torch.Tensor, gather: Gather, features: dict[int, torch.Tensor],
              width: int) -> torch.Tensor:
    """[C, N] ARM input of every coded grid in coding order."""
    ctx = qz[gather.spatial]
    f = width - ctx.shape[0]
    if not f:
        return ctx
    parts = [ctx.new_zeros(f, gather.plain), *(features[k] for k in gather.late_levels)]
    return torch.cat([ctx, torch.cat(parts, dim=1)])
