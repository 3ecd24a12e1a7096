"""The float entropy model used in training: spatial contexts, IFCE and the ARM.

ARM (one for every grid): input C = S + F (S causal neighbours by priority rank, then F
inter-feature values, zeros for a grid without an IFCE); `hidden` blocks h <- ReLU(W h + b + h)
whose weights start at zero (each block starts as the identity on ReLU'd inputs), an output
layer C -> 2, and a linear stabiliser C -> 2 on the raw input added to it. mu = out[0],
ln b = out[1] - 4 (clamped to the entropy coder's range by `laplace_bits`).

IFCE of level k: one linear map from the grids coded before level k, nearest-upsampled to level
k + 1's resolution, to F features, then nearest-upsampled x2 to level k. Every tensor is
feature-major ([features, positions]): on CPU, W @ X with X [k, N] runs much faster than
X @ W.T for these narrow layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layout import PRIORITY, Layout

IFCE_CLIP = 4096.0  # |IFCE output| bound, shared with the integer decoder (keeps it exact)


def offsets(spatial: int) -> tuple[tuple[int, int], ...]:
    return PRIORITY[:spatial]


def pads(offs: tuple[tuple[int, int], ...]) -> tuple[int, int, int]:
    """(left, right, top) zero padding that every context position needs."""
    return (max([0, *(-dx for _, dx in offs)]), max([0, *(dx for _, dx in offs)]),
            max([0, *(-dy for dy, _ in offs)]))


def spatial_context(grid: torch.Tensor, offs: tuple[tuple[int, int], ...]) -> torch.Tensor:
    """[h, w] -> [S, h * w]: the causal neighbours of every position (zero outside)."""
    h, w = grid.shape
    left, right, top = pads(offs)
    x = F.pad(grid[None], (left, right, top, 0))[0]
    return torch.stack([x[top + dy:top + dy + h, left + dx:left + dx + w]
                        for dy, dx in offs]).reshape(len(offs), h * w)


def nearest2(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """[c, h, w] -> [c, 2h, 2w] (nearest) cropped to `shape`."""
    y = x.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    return y[..., :shape[0], :shape[1]]


def init_linear(layer: nn.Linear) -> None:
    """5.0's non-residual init: N(0, 1) / out^2, bias zero."""
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


def stacks(layout: Layout, values: dict, levels: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """For each level k in `levels`: the grids coded before level k's latent, stacked
    [channels, h, w] at level k + 1's resolution (newest first). `values` maps each Grid of
    the layout to its [h, w] tensor."""
    out: dict[int, torch.Tensor] = {}
    if not levels:
        return out
    stack, level = None, None
    for g in layout.order:
        if not g.hyper and g.level in levels:
            assert stack is not None and level == g.level + 1
            out[g.level] = stack
            if g.level == min(levels):
                break
        v = values[g][None]
        if stack is None:
            stack = v
        else:
            if g.level != level:
                stack = nearest2(stack, g.shape)
            stack = torch.cat([v, stack])
        level = g.level
    return out


def ifce_features(ifce: IFCE, layout: Layout, values: dict) -> dict[int, torch.Tensor]:
    """Level -> its F features per position [F, h_k * w_k]."""
    out = {}
    for k, st in stacks(layout, values, ifce.levels).items():
        m = ifce.maps[ifce.levels.index(k)]
        c, h, w = st.shape
        f = torch.addmm(m.bias[:, None], m.weight, st.reshape(c, h * w))
        f = f.clamp(-IFCE_CLIP, IFCE_CLIP).reshape(-1, h, w)
        out[k] = nearest2(f, layout.latents[k].shape).reshape(f.shape[0], -1)
    return out


def arm_inputs(arm: ARM5, layout: Layout, values: dict, features: dict[int, torch.Tensor]
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """([C, N] contexts, [N] values) of every coded grid, in coding order."""
    ctxs, vals = [], []
    for g in layout.order:
        v = values[g]
        ctx = spatial_context(v, arm.offsets)
        if arm.features:
            f = features.get(g.level) if not g.hyper else None
            if f is None:
                f = ctx.new_zeros(arm.features, ctx.shape[1])
            ctx = torch.cat([ctx, f])
        ctxs.append(ctx)
        vals.append(v.reshape(-1))
    return torch.cat(ctxs, dim=1), torch.cat(vals)
