"""Fixed-point ARM and IFCE, and the range coder of every latent and hyperlatent grid.

Bit-exact by construction, as v2's coder (`arm_int`): weights are integers with power-of-two
steps (2^-kw, 2^-kb per module), activations carry ACT_BITS fractional bits, each layer floors
after its products, and the integers ride in float64 (every value stays below 2^53, so BLAS
sums them exactly in any order and thread count).

* IFCE: x (integer latents) << ACT_BITS, acc = x W^T + b, floor(acc 2^-kw), clipped to
  +-IFCE_CLIP; computed at level k + 1's resolution and nearest-upsampled to level k.
* ARM: input [S neighbours << ACT_BITS, F IFCE values]; hidden h <- clip(ReLU(floor((h W^T +
  b) 2^-kw) + h), 0, 2^24); out = floor((h W_o^T + x W_s^T + b_o + b_s) 2^-kw), then
  ln b -= 4. mu and ln b go through v2's tables (mu to 1/16, 64 log-spaced scales).

Coding order: rounds, coarse to fine. The grids without an IFCE (hyperlatents and levels >= 3,
or all of them when F = 0) are independent given their own pasts and form one round; then
level 2, level 1, level 0, each after the IFCE of what came before. Within a round, position
(i, j) of a grid is in wave t = j + K i (K: every causal neighbour in an earlier wave); a wave
of every grid of the round is one vectorised ARM evaluation and one range-decoder call. One
stream holds every round.

Stream: u16 A (residual bound), u32 CRC-32 of the grids (int16, coding order), then the
32-bit words (their count is the section's). Anything malformed raises DecodeError.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import constriction
import numpy as np

from ....errors import DecodeError
from ..arm import wave_factor
from ..arm_int import (
    ACT_BITS,
    LATENT_MAX,
    MAX_ALPHABET,
    MU_BITS,
    IntARM,
    prob_table,
    range_code_residuals,
)
from .entropy import IFCE_CLIP, offsets, pads
from .layout import Grid, Layout, ifce_stack, nearest2

HIDDEN_CLIP = float(1 << 24)
_HEAD = struct.Struct("<HI")
STREAM_HEAD_BYTES = _HEAD.size
_CHUNK = 1 << 15
LN_SHIFT = 4 << ACT_BITS  # the ARM's ln b = out[1] - 4


@dataclass
class IntModule:
    """A module's integer weights and biases (file order) and their steps."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    kw: int
    kb: int

    def bias_at(self, n: int) -> np.ndarray:
        """Bias n at the accumulator's scale 2^(ACT_BITS + kw), as float64."""
        b = self.biases[n].astype(np.int64)
        shift = ACT_BITS + self.kw - self.kb
        return (b << shift if shift >= 0 else b >> -shift).astype(np.float64)


class IntARM5(IntARM):
    """Integer context [n, C] (already fixed point) -> (mu in 1/16, scale index): v2's snapping
    of (mu, ln b) to its tables (`IntARM.__call__`) on this network's `raw` output."""

    def __init__(self, m: IntModule, hidden: int, stabiliser: bool) -> None:
        # IntARM.__init__ builds v2's layers; only its __call__ (the snapping) is shared
        self.hidden = hidden
        self._wt = [np.ascontiguousarray(w.T.astype(np.float64)) for w in m.weights]
        self._b = [m.bias_at(n) for n in range(len(m.biases))]
        self._inv = float(2.0 ** -m.kw)
        self.stabiliser = stabiliser
        if stabiliser:  # the stabiliser's bias joins the output's
            self._b[hidden] = self._b[hidden] + self._b[hidden + 1]

    def raw(self, ctx: np.ndarray) -> np.ndarray:
        x = ctx.astype(np.float64)
        h = x
        for n in range(self.hidden):
            acc = h @ self._wt[n]
            acc += self._b[n]
            acc *= self._inv
            np.floor(acc, out=acc)
            acc += h
            np.maximum(acc, 0.0, out=acc)
            np.minimum(acc, HIDDEN_CLIP, out=acc)
            h = acc
        out = h @ self._wt[self.hidden]
        if self.stabiliser:
            out += x @ self._wt[self.hidden + 1]
        out += self._b[self.hidden]
        out *= self._inv
        np.floor(out, out=out)
        out = out.astype(np.int64)
        out[:, 1] -= LN_SHIFT
        return out


class IntIFCE:
    def __init__(self, m: IntModule) -> None:
        self._wt = [np.ascontiguousarray(w.T.astype(np.float64)) for w in m.weights]
        self._b = [m.bias_at(n) for n in range(len(m.biases))]
        self._inv = float(2.0 ** -m.kw)

    def __call__(self, i: int, stack: np.ndarray) -> np.ndarray:
        """IFCE i on [c, h, w] integer grids -> [h, w, F] fixed-point features."""
        c, h, w = stack.shape
        x = stack.reshape(c, -1).T.astype(np.float64) * float(1 << ACT_BITS)
        acc = x @ self._wt[i]
        acc += self._b[i]
        acc *= self._inv
        np.floor(acc, out=acc)
        lim = IFCE_CLIP * (1 << ACT_BITS)
        np.clip(acc, -lim, lim, out=acc)
        return acc.astype(np.int64).reshape(h, w, -1)


def rounds(layout: Layout) -> list[list[Grid]]:
    """Groups of grids coded together, in coding order."""
    late = [layout.latents[k] for k in sorted(layout.ifce_levels, reverse=True)]
    first = [g for g in layout.order if g not in late]
    return [first, *[[g] for g in late]]


class Geometry:
    """One round's grids in a zero-padded buffer, positions sorted by wave."""

    def __init__(self, grids: list[Grid], spatial: int) -> None:
        offs = offsets(spatial)
        left, right, top = pads(offs)
        k = wave_factor(offs) if offs else 1
        pos, waves, gids, rels, self.grid_pos = [], [], [], [], []
        base = 0
        for n, g in enumerate(grids):
            h, w = g.shape
            pw = left + w + right
            rels.append([dy * pw + dx for dy, dx in offs])
            ii, jj = np.meshgrid(np.arange(h, dtype=np.int64), np.arange(w, dtype=np.int64),
                                 indexing="ij")
            p = (base + (ii + top) * pw + jj + left).reshape(-1)
            self.grid_pos.append(p)
            pos.append(p)
            waves.append((jj + k * ii).reshape(-1))
            gids.append(np.full(h * w, n, dtype=np.int64))
            base += (h + top) * pw
        self.size = base
        self.rel = np.asarray(rels, dtype=np.int64).reshape(len(grids), len(offs))
        pos_all, wave_all = np.concatenate(pos), np.concatenate(waves)
        order = np.argsort(wave_all, kind="stable")
        self.order = order  # raster-concatenated index -> wave order
        self.pos = pos_all[order]
        self.gid = np.concatenate(gids)[order]
        counts = np.bincount(wave_all)
        self.bounds = np.concatenate([[0], np.cumsum(counts)])

    def context_index(self, s: int, e: int) -> np.ndarray:
        return self.pos[s:e, None] + self.rel[self.gid[s:e]]


def _features(layout: Layout, ifce: IntIFCE | None, values: dict[Grid, np.ndarray],
              grids: list[Grid], features: int, geo: Geometry) -> np.ndarray:
    """[n, F] fixed-point IFCE features of a round's positions, in wave order."""
    parts = []
    for g in grids:
        if ifce is not None and not g.hyper and g.level in layout.ifce_levels:
            i = layout.ifce_levels.index(g.level)
            f = ifce(i, ifce_stack(layout, values, g.level))
            parts.append(nearest2(f, g.shape, (0, 1)).reshape(-1, features))
        else:
            parts.append(np.zeros((g.size, features), dtype=np.int64))
    return np.concatenate(parts)[geo.order]


def _crc(layout: Layout, values: dict[Grid, np.ndarray]) -> int:
    crc = 0
    for g in layout.order:
        crc = zlib.crc32(np.ascontiguousarray(values[g], dtype="<i2").tobytes(), crc)
    return crc


def encode_grids(layout: Layout, values: dict[Grid, np.ndarray], arm: IntARM5,
                 ifce: IntIFCE | None, spatial: int) -> bytes:
    """values: integer [h, w] per grid in [-LATENT_MAX, LATENT_MAX] -> stream bytes."""
    f = layout.features
    syms, mus, sidxs = [], [], []
    for grids in rounds(layout):
        geo = Geometry(grids, spatial)
        buf = np.zeros(geo.size, dtype=np.int64)
        for g, p in zip(grids, geo.grid_pos, strict=True):
            v = values[g]
            if v.size and np.abs(v).max() > LATENT_MAX:
                raise ValueError("latent out of range")
            buf[p] = v.reshape(-1) << ACT_BITS
        feat = _features(layout, ifce, values, grids, f, geo)
        n = geo.pos.size
        mu, sidx = np.empty(n, np.int64), np.empty(n, np.int64)
        for s in range(0, n, _CHUNK):
            e = min(n, s + _CHUNK)
            ctx = buf[geo.context_index(s, e)]
            mu[s:e], sidx[s:e] = arm(np.concatenate([ctx, feat[s:e]], axis=1) if f else ctx)
        syms.append((buf[geo.pos] >> ACT_BITS) - (mu >> MU_BITS))
        mus.append(mu)
        sidxs.append(sidx)
    a, words = range_code_residuals(np.concatenate(syms), np.concatenate(mus),
                                    np.concatenate(sidxs))
    return _HEAD.pack(a, _crc(layout, values)) + words.astype("<u4").tobytes()


def decode_grids(data: bytes, layout: Layout, arm: IntARM5, ifce: IntIFCE | None,
                 spatial: int) -> dict[Grid, np.ndarray]:
    if len(data) < _HEAD.size:
        raise DecodeError("corrupt latent stream (too short)")
    a, crc = _HEAD.unpack_from(data)
    if not 1 <= a <= MAX_ALPHABET:
        raise DecodeError("corrupt latent stream (bad alphabet bound)")
    if (len(data) - _HEAD.size) % 4:
        raise DecodeError("corrupt latent stream (not whole 32-bit words)")
    words = np.frombuffer(data, dtype="<u4", offset=_HEAD.size).astype(np.uint32)
    table = prob_table(a)
    fam = constriction.stream.model.Categorical(perfect=False)
    try:
        dec = constriction.stream.queue.RangeDecoder(words)
    except Exception as exc:  # constriction reports malformed data with plain exceptions
        raise DecodeError(f"corrupt latent stream ({exc})") from None
    mask, f = (1 << MU_BITS) - 1, layout.features
    values: dict[Grid, np.ndarray] = {}
    try:
        for grids in rounds(layout):
            geo = Geometry(grids, spatial)
            buf = np.zeros(geo.size, dtype=np.int64)
            feat = _features(layout, ifce, values, grids, f, geo)
            b = geo.bounds
            for t in range(len(b) - 1):
                s, e = int(b[t]), int(b[t + 1])
                if s == e:  # no position of a grid narrower than the wave factor K
                    continue
                ctx = buf[geo.context_index(s, e)]
                mu, sidx = arm(np.concatenate([ctx, feat[s:e]], axis=1) if f else ctx)
                sym = dec.decode(fam, table[sidx, mu & mask])
                x = np.asarray(sym, dtype=np.int64) - a + (mu >> MU_BITS)
                if np.abs(x).max() > LATENT_MAX:
                    raise DecodeError("corrupt latent stream (latent out of range)")
                buf[geo.pos[s:e]] = x << ACT_BITS
            for g, p in zip(grids, geo.grid_pos, strict=True):
                values[g] = (buf[p] >> ACT_BITS).reshape(g.shape)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"corrupt latent stream ({exc})") from None
    if _crc(layout, values) != crc:
        raise DecodeError("corrupt latent stream (checksum mismatch)")
    return values
