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
    LN_MIN_FP,
    LN_STEP_FP,
    MAX_ALPHABET,
    MU_BITS,
    N_SCALES,
    prob_table,
    range_code_residuals,
)
from .entropy import IFCE_CLIP, offsets, pads
from .layout import Grid, Layout, ifce_stack

HIDDEN_CLIP = np.float64(1 << 24)  # numpy scalars: ufuncs take them faster than floats
_ZERO = np.float64(0.0)
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


class IntARM5:
    """The ARM in fixed point: rows of S neighbouring latents and F IFCE values (float64) ->
    (mu in 1/16, scale index), v2's snapping (`IntARM.__call__`) of this network's output.

    Each step 2^-kw, the neighbours' shift by ACT_BITS, the biases (through a column of ones
    that the hidden layers carry), mu's rounding to 1/16 and the scale index's division by
    LN_STEP_FP are folded into the float64 matrices once: every fold multiplies by a power of
    two or adds an integer, so each product and partial sum is still exact and each floor
    gives v2's integer result.
    """

    def __init__(self, m: IntModule, hidden: int, stabiliser: bool, spatial: int) -> None:
        c = m.weights[0].shape[1]
        inv = 2.0 ** -m.kw
        bias = [m.bias_at(n) for n in range(len(m.biases))]

        def affine(n: int, b: np.ndarray | None) -> np.ndarray:
            a = np.zeros((c + 1, m.weights[n].shape[0]))
            a[:c] = m.weights[n].T.astype(np.float64) * inv
            if b is not None:
                a[c] = b * inv
            return a

        self._hidden = []
        for n in range(hidden):  # floor(h W' + h) = floor(h W') + h for integer h: the
            # residual is the identity added to W' (the ones column maps to 1 through it)
            a = np.eye(c + 1)
            a[:, :c] += affine(n, bias[n])
            self._hidden.append(a)
        out_bias = bias[hidden] + (bias[hidden + 1] if stabiliser else 0.0)
        # mu = floor((out0 + 2^(ACT-MU-1)) 2^-(ACT-MU)); scale index = floor((out1 - LN_SHIFT
        # - LN_MIN_FP + LN_STEP_FP / 2) / LN_STEP_FP), with floor(floor(y) / n) = floor(y / n)
        shift = float(1 << (ACT_BITS - MU_BITS))
        offset = np.array([shift / 2, -LN_SHIFT - LN_MIN_FP + LN_STEP_FP // 2])
        div = np.array([shift, float(LN_STEP_FP)])
        self._out = affine(hidden, out_bias)
        self._out[c] += offset
        self._out /= div
        stab = affine(hidden + 1, None) / div if stabiliser else None
        # The first layer (or, with no hidden layer, the output) and the stabiliser read the
        # input; their matrices are split by input rows: the S context rows (the latents
        # themselves, their shift by ACT_BITS folded in), the F feature rows and the bias row.
        # The features' and bias' share of every product is known before a wave is decoded
        # (`prepare`, one product per block of waves); a wave then multiplies its contexts
        # once, for the first layer and the stabiliser together.
        if self._hidden:
            first = self._hidden.pop(0)
            joint = np.concatenate([first, *([stab] if stab is not None else [])], axis=1)
            self._split = first.shape[1]
        else:  # x W_o + x W_s = x (W_o + W_s)
            joint = self._out + (stab if stab is not None else 0.0)
            self._split = 0
        joint[:spatial] *= float(1 << ACT_BITS)
        # Feature-major from here on ([features, positions], as the IFCE): the hidden values'
        # rows are then contiguous, and elementwise passes over them run 2-4x faster than
        # over the columns of a position-major array.
        self._ctx = np.ascontiguousarray(joint[:spatial].T)
        self._feat = np.ascontiguousarray(joint[spatial:c].T)
        self._bias = np.ascontiguousarray(joint[c][:, None])
        self._hidden = [np.ascontiguousarray(a.T) for a in self._hidden]
        self._out = np.ascontiguousarray(self._out.T)
        self._stab = stab is not None
        lim = float(LATENT_MAX << MU_BITS)
        self._lo, self._hi = np.array([[-lim], [0.0]]), np.array([[lim], [N_SCALES - 1.0]])

    def prepare(self, features: np.ndarray | None, n: int) -> np.ndarray:
        """[F, n] fixed-point features (float64; None: all zero) -> their and the biases'
        share of the input products ([W, n]), for `__call__`."""
        if features is not None and features.shape[0]:
            return self._feat @ features + self._bias
        return np.broadcast_to(self._bias, (self._bias.shape[0], n))

    def __call__(self, ctx: np.ndarray, prepared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ctx [S, n] neighbouring latents (float64), `prepare`'s columns for the same n
        positions -> (mu, scale index), each [n] int64."""
        r = self._ctx @ ctx
        r += prepared
        if self._split:
            h = r[:self._split]
            np.floor(h, out=h)
            h.clip(_ZERO, HIDDEN_CLIP, out=h)  # one pass, faster than maximum + minimum
            for a in self._hidden:
                acc = a @ h
                np.floor(acc, out=acc)
                acc.clip(_ZERO, HIDDEN_CLIP, out=acc)
                h = acc
            out = self._out @ h
            if self._stab:
                out += r[self._split:]
        else:
            out = r
        np.floor(out, out=out)
        out.clip(self._lo, self._hi, out=out)
        q = out.astype(np.int64)
        return q[0], q[1]


class IntIFCE:
    """The IFCE in fixed point, feature-major (F x N products run faster than N x F here): the
    step 2^-kw and the input shift are folded into the float64 weights, exactly (powers of
    two), as in IntARM5."""

    def __init__(self, m: IntModule) -> None:
        self._w = [w.astype(np.float64) * 2.0 ** (ACT_BITS - m.kw) for w in m.weights]
        self._b = [m.bias_at(n)[:, None] * 2.0 ** -m.kw for n in range(len(m.biases))]

    def __call__(self, i: int, stack: np.ndarray) -> np.ndarray:
        """IFCE i on [c, h, w] integer grids -> [F, h, w] fixed-point features (float64)."""
        c, h, w = stack.shape
        acc = self._w[i] @ stack.reshape(c, -1).astype(np.float64)
        acc += self._b[i]
        np.floor(acc, out=acc)
        lim = IFCE_CLIP * (1 << ACT_BITS)
        np.clip(acc, -lim, lim, out=acc)
        return acc.reshape(-1, h, w)


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
        """[S, e - s] buffer indices of the contexts of positions s..e (wave order)."""
        return self.pos[None, s:e] + self.rel[self.gid[s:e]].T


def _features(layout: Layout, ifce: IntIFCE | None, values: dict[Grid, np.ndarray],
              grids: list[Grid], features: int, geo: Geometry) -> np.ndarray | None:
    """[F, n] fixed-point IFCE features (float64) of a round's positions, in wave order (None
    where the round has no IFCE): position (i, j) takes its IFCE's value at (i // 2, j // 2)
    (nearest x2)."""
    if ifce is None or not any(not g.hyper and g.level in layout.ifce_levels for g in grids):
        return None
    (g,) = grids  # `rounds` codes a grid with an IFCE alone
    f = ifce(layout.ifce_levels.index(g.level), ifce_stack(layout, values, g.level))
    r, c = np.divmod(np.arange(g.size, dtype=np.int64), g.shape[1])
    return f.reshape(features, -1)[:, ((r // 2) * f.shape[2] + c // 2)[geo.order]]


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
            buf[p] = v.reshape(-1)
        feat = _features(layout, ifce, values, grids, f, geo)
        n = geo.pos.size
        mu, sidx = np.empty(n, np.int64), np.empty(n, np.int64)
        for s in range(0, n, _CHUNK):
            e = min(n, s + _CHUNK)
            ctx = buf[geo.context_index(s, e)].astype(np.float64)
            pre = arm.prepare(None if feat is None else feat[:, s:e], e - s)
            mu[s:e], sidx[s:e] = arm(ctx, pre)
        syms.append(buf[geo.pos] - (mu >> MU_BITS))
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
    table = prob_table(a).reshape(-1, 2 * a + 1)  # row: 16 x scale index + mu fraction
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
            buf = np.zeros(geo.size)  # the latents, as exact float64
            feat = _features(layout, ifce, values, grids, f, geo)
            bounds = geo.bounds
            t, n_waves = 0, len(bounds) - 1
            while t < n_waves:  # blocks of waves of about _CHUNK positions: their ARM inputs,
                # context indices and positions are prepared in a few vectorised calls
                s0 = int(bounds[t])
                t1 = max(t + 1, int(np.searchsorted(bounds, s0 + _CHUNK, "right")) - 1)
                e0 = int(bounds[t1])
                pre = arm.prepare(None if feat is None else feat[:, s0:e0], e0 - s0)
                idx, pos = geo.context_index(s0, e0), geo.pos[s0:e0]
                edges = (bounds[t:t1 + 1] - s0).tolist()
                for s, e in zip(edges[:-1], edges[1:], strict=True):
                    if s == e:  # no position of a grid narrower than the wave factor K
                        continue
                    mu, sidx = arm(buf[idx[:, s:e]], pre[:, s:e])
                    sym = dec.decode(fam, table.take((sidx << MU_BITS) | (mu & mask), axis=0))
                    buf[pos[s:e]] = sym + ((mu >> MU_BITS) - a)
                t = t1
            # a residual beyond the model's range is caught here, once per round: until then
            # |x| <= LATENT_MAX + 2 MAX_ALPHABET keeps every product exact
            if geo.size and np.abs(buf).max() > LATENT_MAX:
                raise DecodeError("corrupt latent stream (latent out of range)")
            for g, p in zip(grids, geo.grid_pos, strict=True):
                values[g] = buf[p].astype(np.int64).reshape(g.shape)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"corrupt latent stream ({exc})") from None
    if _crc(layout, values) != crc:
        raise DecodeError("corrupt latent stream (checksum mismatch)")
    return values
