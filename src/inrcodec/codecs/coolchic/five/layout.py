"""Decoder configurations and the grid layout of the Cool-chic 5-class model (`coolchic`).

A decoder configuration fixes the entropy model (S spatial ARM contexts, F inter-feature
contexts) and the synthesis; `DECODERS` holds Cool-chic 5.0.1's four intra configurations
(its cfg/dec/intra files at the v5.0.1 tag: lop's first synthesis layer is 3 wide there).

The layout (`Layout`) is every coded grid of an image: latent levels 0..L-1 (level k has
ceil(H / 2^k) x ceil(W / 2^k) positions, one channel) and, optionally, hyperlatents at levels
4..L-1 that only feed the inter-feature context extractors (IFCE) of levels 0..2. L grows
with the image (7 below 1 MP, 8 below 3 MP, 9 above), as 5.0.1's "auto" resolutions.
Grids are coded coarsest first, a level's hyperlatent just before its latent (`order`), so
the IFCE of a fine level reads only grids decoded before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

# Causal neighbours (dy, dx) of a latent by priority rank (dy < 0: rows above). The first S
# ranks are the ARM's spatial context; none reaches further right than dx = +3 for S <= 20.
PRIORITY = (
    (0, -1), (-1, 0), (-1, -1), (-1, 1), (0, -2), (-2, 0), (-3, 0), (0, -3), (-1, -2),
    (-2, 1), (-2, -1), (-1, 2), (-2, -2), (-1, -3), (-2, 2), (-3, 1), (0, -4), (-1, 3),
    (-2, -3), (-2, 3), (-3, -1), (-3, -2), (-3, 2), (-4, 0),
)
IFCE_LEVELS = 3  # levels 0, 1, 2 get an IFCE (they hold ~98 % of the symbols)
HYPER_FIRST = 4  # hyperlatents at levels 4..L-1


@dataclass(frozen=True)
class Decoder:
    """One decoder configuration: ARM contexts, ARM hidden layers, IFCE outputs, synthesis."""

    spatial: int  # S
    hidden: int  # residual C -> C hidden layers of the ARM, C = S + F
    features: int  # F
    synthesis: str  # layer spec (codecs/coolchic/synthesis.py grammar)


DECODERS: dict[str, Decoder] = {
    "lop": Decoder(6, 2, 2, "3-1-linear-relu,X-1-linear-none,X-3-residual-none"),
    "mop": Decoder(10, 2, 4,
                   "16-1-linear-relu,X-1-linear-none,X-3-residual-relu,X-3-residual-none"),
    "hop": Decoder(14, 2, 6,
                   "48-1-linear-relu,X-1-linear-none,X-3-residual-relu,X-3-residual-none"),
    "vhop": Decoder(20, 2, 6,
                    "64-1-linear-relu,X-1-linear-none,X-3-residual-relu,X-3-residual-none"),
}


def latent_levels(height: int, width: int) -> int:
    n = height * width
    return 7 if n < 1_000_000 else 8 if n < 3_000_000 else 9


def grid_shape(height: int, width: int, level: int) -> tuple[int, int]:
    return -(-height // (1 << level)), -(-width // (1 << level))


@dataclass(frozen=True)
class Grid:
    level: int
    hyper: bool
    shape: tuple[int, int]

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]


@dataclass(frozen=True)
class Layout:
    height: int
    width: int
    hyperlatents: bool = True
    features: int = 2  # F (0: no IFCE)

    @cached_property
    def levels(self) -> int:
        return latent_levels(self.height, self.width)

    @cached_property
    def latents(self) -> tuple[Grid, ...]:
        """Latent grids, finest first (index = level)."""
        return tuple(Grid(k, False, grid_shape(self.height, self.width, k))
                     for k in range(self.levels))

    @cached_property
    def hypers(self) -> tuple[Grid, ...]:
        """Hyperlatent grids, finest first."""
        if not self.hyperlatents:
            return ()
        return tuple(Grid(k, True, grid_shape(self.height, self.width, k))
                     for k in range(HYPER_FIRST, self.levels))

    @cached_property
    def order(self) -> tuple[Grid, ...]:
        """Coding order: coarsest level first, a level's hyperlatent before its latent."""
        hyper = {g.level: g for g in self.hypers}
        out: list[Grid] = []
        for k in range(self.levels - 1, -1, -1):
            if k in hyper:
                out.append(hyper[k])
            out.append(self.latents[k])
        return tuple(out)

    def ifce_inputs(self, level: int) -> int:
        """Channels of level `level`'s IFCE input: every grid coded before it."""
        return self.order.index(self.latents[level])

    @cached_property
    def ifce_levels(self) -> tuple[int, ...]:
        """Levels with an IFCE (those with a coarser level to read from)."""
        if self.features == 0:
            return ()
        return tuple(k for k in range(min(IFCE_LEVELS, self.levels - 1)))

    @cached_property
    def symbols(self) -> int:
        return sum(g.size for g in self.order)


def nearest2(x: np.ndarray, shape: tuple[int, int], axes: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour x2 along `axes`, cropped to `shape`."""
    y = np.repeat(np.repeat(x, 2, axis=axes[0]), 2, axis=axes[1])
    sl = [slice(None)] * x.ndim
    sl[axes[0]], sl[axes[1]] = slice(0, shape[0]), slice(0, shape[1])
    return y[tuple(sl)]


def ifce_stack(layout: Layout, values: dict[Grid, np.ndarray], level: int) -> np.ndarray:
    """The IFCE input of `level`: every grid coded before its latent, nearest-upsampled to
    level + 1's resolution and stacked [channels, h, w], newest first. Built from the
    coarsest grid: at each finer level the running stack is upsampled and cropped, and each
    new grid goes in front."""
    stack, cur = None, None
    for g in layout.order:
        if not g.hyper and g.level == level:
            break
        v = values[g][None]
        if stack is None:
            stack = v
        else:
            if g.level != cur:
                stack = nearest2(stack, g.shape, (1, 2))
            stack = np.concatenate([v, stack])
        cur = g.level
    assert stack is not None and cur == level + 1
    return stack


def macs_per_pixel(decoder: Decoder, layout: Layout, channels: int = 3,
                   preconcat: bool = True, stabilisers: bool = True) -> dict[str, float]:
    """Multiply-accumulates per decoded pixel, by module and in total, of our decoder: the
    ARM over every coded symbol, the IFCE at the resolution of the level above, the
    upsampling counted as the reference counts its separable 8-tap transposed convolution on
    a 4-padded input for every channel of the running stack (our polyphase form does slightly
    fewer at the borders), the 7-tap pre-concatenation filters, and the synthesis (its
    stabiliser included). Bias and
    residual additions, activations and the entropy decoder are not counted, as in the
    reference's counter; unlike it we run no output transform (the identity for RGB: 9 MAC)
    and count no nearest-neighbour copies."""
    from ..synthesis import resolve

    n = layout.height * layout.width
    f = layout.features
    c = decoder.spatial + f
    arm = (decoder.hidden * c * c + (2 * c if stabilisers else 0) + 2 * c) * layout.symbols / n
    ifce = sum(layout.ifce_inputs(k) * f * layout.latents[k + 1].size
               for k in layout.ifce_levels) / n
    ups = 0.0
    for j, src in enumerate(reversed(layout.latents[1:])):  # coarsest source first
        h, w = src.shape
        ups += (j + 1) * 8 * (h * (w + 8) + (h + 8) * 2 * w)
    if preconcat:
        ups += 14 * sum(g.size for g in layout.latents[:-1])
    ups /= n
    rows = resolve(decoder.synthesis, layout.levels, channels)
    syn = sum(ci * co * layer.kernel ** 2 for ci, co, layer in rows)
    if stabilisers:
        syn += layout.levels * channels
    return {"arm": arm, "ifce": ifce, "upsampling": ups, "synthesis": float(syn),
            "total": arm + ifce + ups + syn}
