"""Fixed-point ARM, probability tables and the wavefront range coder for the latents.

Everything here that decides a bit of the file is integer arithmetic, so decoding is
bit-exact on any machine, thread count or BLAS:

* ARM weights and biases are integers with power-of-two steps (2^-kw, 2^-kb), chosen by the
  encoder's rate-distortion search. Activations carry `ACT_BITS` fractional bits: the input
  latent x enters as x << ACT_BITS; each layer computes acc = h @ W^T + bias (at scale
  2^(ACT_BITS + kw)), shifts right by kw (floor), applies an integer ReLU and clips to
  [0, 2^24] (hidden layers). The integers are carried in float64 so that BLAS does the
  products: every value stays an integer below 2^53, so the sums are exact in any order.
* The outputs (mu, s) are snapped: mu to 1/16 of a latent step (rounded), s (the natural log
  of the Laplace scale b) to an index into `N_SCALES` log-spaced scales
  b_i = exp((LN_MIN_FP + LN_STEP_FP * i) / 256), about 0.02 to 53.
* For each (scale index i, mu fraction f in 0..15) the frequency of residual k = x - floor(mu)
  over [-A, A] is the trapezoid sum over the bin, sum_{m=-8..8} c_m g_i[|16 k + m - f|]
  (c = 1 at m = +-8, else 2), floor 1, where g_i is an integer geometric sequence
  g_i[0] = 2^24, g_i[n+1] = g_i[n] * R_i >> 24 (a Laplace density sampled at 1/16 steps).
  R_i = round(2^24 exp(-1 / (16 b_i))) is the literal table `DECAY` below. Probabilities
  handed to constriction are freq / sum in float64: an exactly rounded IEEE division of
  integers, identical everywhere.
* A (the residual bound) is measured by the encoder and stored in the stream.

Coding order: every latent position (i, j) of a grid belongs to wave t = j + K * i, where K
(`wave_factor`) makes every causal neighbour fall in an earlier wave. All grids (levels and
channels) share the ARM and are independent, so wave t of every grid is decoded together:
one vectorised ARM evaluation and one constriction call per wave (about W + K * H calls for
the largest grid), in (grid, raster) order within a wave. The encoder codes in the same order.

Stream layout: u16 A, u32 CRC-32 of the latents (int16 little-endian, grid order), u32 number
of 32-bit words, then the words. A corrupt or truncated stream raises DecodeError.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import constriction
import numpy as np

from ...errors import DecodeError
from .arm import RADIUS, context_offsets, wave_factor

ACT_BITS = 8
MU_BITS = 4  # mu snapped to 1/16
N_SCALES = 64
LN_MIN_FP, LN_STEP_FP = -1000, 32  # ln b in 1/256 nat
HIDDEN_CLIP = 1 << 24
LATENT_MAX = 127  # latents are clamped to [-LATENT_MAX, LATENT_MAX] in training
MAX_ALPHABET = 2 * LATENT_MAX + 2  # bound A on |x - floor(mu)|
MAX_WEIGHT = 1 << 16  # |integer ARM weight| bound (validated at decode)
_TOP_BITS = 24
# R_i = round(2^24 * exp(-1 / (16 * b_i))) for b_i = exp((LN_MIN_FP + LN_STEP_FP * i) / 256);
# literal so that no libm enters the tables (tests check it against the formula).
DECAY = (
    750520, 1081224, 1492241, 1982991, 2548549, 3180246, 3866592, 4594348, 5349570, 6118536,
    6888464, 7648016, 8387595, 9099459, 9777699, 10418115, 11018035, 11576095, 12092013,
    12566376, 13000434, 13395926, 13754928, 14079730, 14372732, 14636366, 14873035, 15085073,
    15274705, 15444033, 15595024, 15729498, 15849134, 15955468, 16049900, 16133700, 16208017,
    16273886, 16332237, 16383905, 16429638, 16470103, 16505896, 16537548, 16565532, 16590266,
    16612125, 16631439, 16648502, 16663575, 16676888, 16688646, 16699029, 16708197, 16716292,
    16723440, 16729750, 16735320, 16740238, 16744578, 16748410, 16751792, 16754778, 16757413,
)
_HEAD = struct.Struct("<HII")
LATENT_HEAD_BYTES = _HEAD.size
_CHUNK = 1 << 15  # symbols per vectorised encode call


@dataclass
class IntLayer:
    weight: np.ndarray  # int64 [out, in]
    bias: np.ndarray  # int64 [out]
    kw: int  # weight step 2^-kw
    kb: int  # bias step 2^-kb
    residual: bool = False  # the layer's input (scale 2^ACT_BITS) is added after the shift


class IntARM:
    """The ARM in fixed point: integer context [n, C] -> (mu in 1/16, scale index).

    The integer products and sums are carried in float64: every value involved is an integer
    below 2^53 (|x| <= 2^15 after the shift, |w| <= 2^16, hidden <= 2^24, widths <= 256), so
    each BLAS product and partial sum is exact whatever the summation order, and a multiply by
    2^-kw followed by floor is an exact arithmetic right shift.
    """

    def __init__(self, layers: list[IntLayer]) -> None:
        self.layers = layers
        self._wt = [np.ascontiguousarray(la.weight.T.astype(np.float64)) for la in layers]
        self._b, self._inv = [], []
        for la in layers:
            shift = ACT_BITS + la.kw - la.kb
            b = la.bias.astype(np.int64)
            self._b.append((b << shift if shift >= 0 else b >> -shift).astype(np.float64))
            self._inv.append(float(2.0 ** -la.kw))

    def raw(self, ctx: np.ndarray) -> np.ndarray:
        h = ctx.astype(np.float64) * float(1 << ACT_BITS)
        last = len(self.layers) - 1
        for n, (wt, b, inv) in enumerate(zip(self._wt, self._b, self._inv, strict=True)):
            x = h
            h = h @ wt
            h += b
            h *= inv
            np.floor(h, out=h)
            if self.layers[n].residual:
                h += x  # integers below 2^53: exact
            if n < last:
                np.maximum(h, 0.0, out=h)
                np.minimum(h, float(HIDDEN_CLIP), out=h)
        return h.astype(np.int64)  # [n, 2] at scale 2^ACT_BITS

    def __call__(self, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = self.raw(ctx)
        mu = (h[:, 0] + (1 << (ACT_BITS - MU_BITS - 1))) >> (ACT_BITS - MU_BITS)
        lim = LATENT_MAX << MU_BITS
        mu = np.minimum(np.maximum(mu, -lim), lim)
        s = (h[:, 1] - LN_MIN_FP + LN_STEP_FP // 2) // LN_STEP_FP
        s = np.minimum(np.maximum(s, 0), N_SCALES - 1)
        return mu, s


def scale_of_index(i: int | np.ndarray) -> np.ndarray:
    """The Laplace scale b_i of each table index (for reporting and tests; not coding)."""
    return np.exp((LN_MIN_FP + LN_STEP_FP * np.asarray(i, dtype=np.float64)) / 256.0)


_TABLES: dict[int, np.ndarray] = {}


def prob_table(a: int) -> np.ndarray:
    """float64 [N_SCALES, 16, 2A+1] probabilities of residual k = -A..A (cached per A)."""
    if a in _TABLES:
        return _TABLES[a]
    n = 16 * (a + 1) + 9
    g = np.empty((N_SCALES, n), dtype=np.int64)
    g[:, 0] = 1 << _TOP_BITS
    r = np.asarray(DECAY, dtype=np.int64)
    for j in range(1, n):
        g[:, j] = (g[:, j - 1] * r) >> _TOP_BITS
    k = np.arange(-a, a + 1, dtype=np.int64)
    m = np.arange(-8, 9, dtype=np.int64)
    wm = np.where(np.abs(m) == 8, 1, 2).astype(np.int64)  # trapezoid rule over the bin
    freq = np.empty((N_SCALES, 16, k.size), dtype=np.int64)
    for f in range(16):
        idx = np.abs(16 * k[None, :] + m[:, None] - f)  # [17, K]
        freq[:, f] = (g[:, idx] * wm[None, :, None]).sum(axis=1)
    np.maximum(freq, 1, out=freq)
    probs = freq.astype(np.float64) / freq.sum(axis=2, keepdims=True).astype(np.float64)
    if len(_TABLES) > 8:
        _TABLES.clear()
    _TABLES[a] = probs
    return probs


class Geometry:
    """Where each latent lives in one zero-padded buffer, and the wave order of coding."""

    def __init__(self, shapes: list[tuple[int, int]], context: int) -> None:
        self.shapes = shapes
        self.offsets = context_offsets(context)
        k = wave_factor(self.offsets)
        r = RADIUS
        bases, rels, pos, waves, gids = [], [], [], [], []
        base = 0
        for g, (h, w) in enumerate(shapes):
            pw = w + 2 * r
            bases.append(base)
            rels.append([dy * pw + dx for dy, dx in self.offsets])
            ii, jj = np.meshgrid(np.arange(h, dtype=np.int64), np.arange(w, dtype=np.int64),
                                 indexing="ij")
            pos.append((base + (ii + r) * pw + jj + r).reshape(-1))
            waves.append((jj + k * ii).reshape(-1))
            gids.append(np.full(h * w, g, dtype=np.int64))
            base += (h + r) * pw
        self.size = base
        self.rel = np.asarray(rels, dtype=np.int64).reshape(len(shapes), len(self.offsets))
        self.grid_pos = pos  # raster positions per grid (grid order)
        pos_all = np.concatenate(pos) if pos else np.zeros(0, np.int64)
        wave_all = np.concatenate(waves) if waves else np.zeros(0, np.int64)
        gid_all = np.concatenate(gids) if gids else np.zeros(0, np.int64)
        order = np.argsort(wave_all, kind="stable")
        self.pos = pos_all[order]
        self.gid = gid_all[order]
        counts = np.bincount(wave_all, minlength=1) if wave_all.size else np.zeros(1, np.int64)
        self.bounds = np.concatenate([[0], np.cumsum(counts)])
        # per wave: the context index rows (one gather per wave at decode time)
        self.single_grid = len(shapes) == 1

    @property
    def count(self) -> int:
        return int(self.pos.size)

    def context_index(self, s: int, e: int) -> np.ndarray:
        return self.pos[s:e, None] + self.rel[self.gid[s:e]]


def _crc(grids: list[np.ndarray]) -> int:
    crc = 0
    for g in grids:
        crc = zlib.crc32(np.ascontiguousarray(g, dtype="<i2").tobytes(), crc)
    return crc


def encode_latents(grids: list[np.ndarray], arm: IntARM, context: int) -> bytes:
    """grids: integer arrays [h, w] in [-LATENT_MAX, LATENT_MAX] -> stream bytes."""
    geo = Geometry([tuple(g.shape) for g in grids], context)
    buf = np.zeros(geo.size, dtype=np.int64)
    for g, p in zip(grids, geo.grid_pos, strict=True):
        if g.size and np.abs(g).max() > LATENT_MAX:
            raise ValueError("latent out of range")
        buf[p] = g.reshape(-1)
    n = geo.count
    mu = np.empty(n, dtype=np.int64)
    sidx = np.empty(n, dtype=np.int64)
    for s in range(0, n, _CHUNK):
        e = min(n, s + _CHUNK)
        mu[s:e], sidx[s:e] = arm(buf[geo.context_index(s, e)])
    a, words = range_code_residuals(buf[geo.pos] - (mu >> MU_BITS), mu, sidx)
    return _HEAD.pack(a, _crc(grids), int(words.size)) + words.astype("<u4").tobytes()


def range_code_residuals(res: np.ndarray, mu: np.ndarray, sidx: np.ndarray
                         ) -> tuple[int, np.ndarray]:
    """Range-code latent residuals (latent minus the integer part of its predicted mean) with
    the tabulated Laplace of each one's scale index and mean fraction; returns the alphabet
    bound a (residuals in -a..a) and the coder's 32-bit words."""
    a = max(1, int(np.abs(res).max()) if res.size else 1)
    if a > MAX_ALPHABET:
        raise ValueError("latent residual out of range")
    table = prob_table(a)
    frac = mu & ((1 << MU_BITS) - 1)
    enc = constriction.stream.queue.RangeEncoder()
    fam = constriction.stream.model.Categorical(perfect=False)
    sym = (res + a).astype(np.int32)
    for s in range(0, sym.size, _CHUNK):
        e = min(sym.size, s + _CHUNK)
        enc.encode(sym[s:e], fam, table[sidx[s:e], frac[s:e]])
    return a, enc.get_compressed()


def decode_latents(data: bytes, shapes: list[tuple[int, int]], arm: IntARM,
                   context: int) -> list[np.ndarray]:
    if len(data) < _HEAD.size:
        raise DecodeError("corrupt latent stream (too short)")
    a, crc, nwords = _HEAD.unpack_from(data)
    if not 1 <= a <= MAX_ALPHABET:
        raise DecodeError("corrupt latent stream (bad alphabet bound)")
    if len(data) != _HEAD.size + 4 * nwords:
        raise DecodeError("corrupt latent stream (length does not match)")
    words = np.frombuffer(data, dtype="<u4", offset=_HEAD.size).astype(np.uint32)
    geo = Geometry(shapes, context)
    buf = np.zeros(geo.size, dtype=np.int64)
    table = prob_table(a)
    fam = constriction.stream.model.Categorical(perfect=False)
    try:
        dec = constriction.stream.queue.RangeDecoder(words)
    except Exception as exc:
        raise DecodeError(f"corrupt latent stream ({exc})") from None
    mask = (1 << MU_BITS) - 1
    bounds = geo.bounds
    try:
        for t in range(len(bounds) - 1):
            s, e = int(bounds[t]), int(bounds[t + 1])
            if s == e:
                continue
            mu, sidx = arm(buf[geo.context_index(s, e)])
            sym = dec.decode(fam, table[sidx, mu & mask])
            buf[geo.pos[s:e]] = np.asarray(sym, dtype=np.int64) - a + (mu >> MU_BITS)
    except DecodeError:
        raise
    except Exception as exc:  # constriction reports malformed data with plain exceptions
        raise DecodeError(f"corrupt latent stream ({exc})") from None
    grids = []
    for (h, w), p in zip(shapes, geo.grid_pos, strict=True):
        grids.append(buf[p].reshape(h, w))
    if any(g.size and np.abs(g).max() > LATENT_MAX for g in grids) or _crc(grids) != crc:
        raise DecodeError("corrupt latent stream (checksum mismatch)")
    return grids
