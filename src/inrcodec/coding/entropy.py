"""Lossless coding of integer arrays (quantised weights) with the better of two coders.

Method 0, constriction: each array gets a two-sided geometric ("discrete Laplace") model around
its median, with support [lo, hi] and decay r = R / 2^16. The frequency table is built with
integer arithmetic only (f_{j+1} = f_j * R >> 16), so encoder and decoder build identical
tables on any machine; R is chosen per array by the exact code length it gives. All arrays go
into one range-coded stream.

Method 1, brotli: the raw integers (int16 or int32 little-endian) through brotli quality 11.

`encode_ints` tries both and keeps the shorter; the first byte names the method. Shapes are
never read from the data: the caller (who knows the network) supplies them, so a corrupted
stream cannot trigger a large allocation.
"""

from __future__ import annotations

import brotli
import constriction
import numpy as np

from ..errors import DecodeError

METHOD_LAPLACE, METHOD_BROTLI = 0, 1
_TOP = 1 << 24  # frequency of the centre symbol
_R_CANDIDATES = np.unique(np.round(65536 * np.exp(-1.0 / np.geomspace(0.05, 4096, 160))))
_R_CANDIDATES = _R_CANDIDATES[(_R_CANDIDATES >= 1) & (_R_CANDIDATES < 65536)].astype(np.int64)
MAX_SUPPORT = 1 << 17
MAX_INT = (1 << 31) - 1  # |integer| the coders carry (int32)


# -- varints -----------------------------------------------------------------------------------
def _put_varint(out: bytearray, v: int) -> None:
    v = (v << 1) ^ (v >> 63)  # zigzag
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def _get_varint(data: bytes, pos: int) -> tuple[int, int]:
    v, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise DecodeError("corrupt weight stream (bad varint)")
        b = data[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return (v >> 1) ^ -(v & 1), pos


# -- integer discrete-Laplace model --------------------------------------------------------------
def laplace_freqs(lo: int, hi: int, centre: int, r: int) -> np.ndarray:
    """Integer frequencies over lo..hi: TOP at `centre`, times r/2^16 per step away, floor 1."""
    n_side = max(centre - lo, hi - centre) + 1
    seq: list[int] = []  # the decay until it reaches 0 (it stays 0): then the floor, 1
    append, f = seq.append, _TOP
    for _ in range(n_side):
        if not f:
            break
        append(f)
        f = (f * r) >> 16
    decay = np.ones(n_side, dtype=np.int64)
    decay[:len(seq)] = seq
    k = np.arange(lo, hi + 1, dtype=np.int64)
    return decay[np.abs(k - centre)]


def _model(freqs: np.ndarray) -> constriction.stream.model.Categorical:
    probs = freqs.astype(np.float64) / float(freqs.sum())  # exact IEEE ops: same everywhere
    return constriction.stream.model.Categorical(probs, perfect=False)


def _best_r(values: np.ndarray, lo: int, hi: int, centre: int) -> int:
    counts = np.bincount(values - lo, minlength=hi - lo + 1).astype(np.float64)
    nz = counts > 0
    best, best_bits = int(_R_CANDIDATES[0]), np.inf
    for r in _R_CANDIDATES:
        f = laplace_freqs(lo, hi, centre, int(r)).astype(np.float64)
        bits = -(counts[nz] * np.log2(f[nz] / f.sum())).sum()
        if bits < best_bits:
            best, best_bits = int(r), bits
    return best


def _encode_laplace(arrays: list[np.ndarray]) -> bytes:
    head = bytearray()
    enc = constriction.stream.queue.RangeEncoder()
    for a in arrays:
        v = a.reshape(-1).astype(np.int64)
        if v.size == 0:
            continue
        lo, hi = int(v.min()), int(v.max())
        if hi - lo + 1 > MAX_SUPPORT:
            raise ValueError("integer range too wide for the Laplace coder")
        centre = int(np.median(v).round())
        r = _best_r(v, lo, hi, centre)
        for x in (lo, hi, centre, r):
            _put_varint(head, x)
        if lo != hi:
            enc.encode(np.ascontiguousarray(v - lo, dtype=np.int32), _model(
                laplace_freqs(lo, hi, centre, r)))
    body = enc.get_compressed().tobytes()
    out = bytearray()
    _put_varint(out, len(head))
    return bytes(out + head) + body


def _decode_laplace(data: bytes, sizes: list[int], max_abs: int) -> list[np.ndarray]:
    hlen, pos = _get_varint(data, 0)
    if hlen < 0 or pos + hlen > len(data):
        raise DecodeError("corrupt weight stream (header length)")
    body = data[pos + hlen:]
    if len(body) % 4:
        raise DecodeError("corrupt weight stream (body length)")
    words = np.frombuffer(body, dtype=np.uint32).copy()
    try:
        dec = constriction.stream.queue.RangeDecoder(words)
    except Exception as exc:  # constriction raises plain exceptions on malformed input
        raise DecodeError(f"corrupt weight stream ({exc})") from None
    out = []
    for n in sizes:
        if n == 0:
            out.append(np.zeros(0, np.int32))
            continue
        params = []
        for _ in range(4):
            v, pos = _get_varint(data, pos)
            params.append(v)
        lo, hi, centre, r = params
        if not (lo <= centre <= hi and hi - lo + 1 <= MAX_SUPPORT and 1 <= r < 65536):
            raise DecodeError("corrupt weight stream (bad model parameters)")
        if lo < -max_abs or hi > max_abs:
            raise DecodeError(f"corrupt weight stream (integers {lo}..{hi} outside "
                              f"+-{max_abs})")
        if lo == hi:
            out.append(np.full(n, lo, dtype=np.int32))
            continue
        try:
            sym = dec.decode(_model(laplace_freqs(lo, hi, centre, r)), n)
        except Exception as exc:
            raise DecodeError(f"corrupt weight stream ({exc})") from None
        out.append(np.asarray(sym, dtype=np.int32) + lo)
    if pos != len(data) - len(body):
        raise DecodeError("corrupt weight stream (header does not match the network)")
    return out


def _encode_brotli(arrays: list[np.ndarray]) -> bytes:
    v = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0, np.int32)
    wide = v.size and (v.min() < -32768 or v.max() > 32767)
    raw = v.astype("<i4" if wide else "<i2").tobytes()
    return bytes([4 if wide else 2]) + brotli.compress(raw, quality=11)


def _decode_brotli(data: bytes, sizes: list[int], max_abs: int) -> list[np.ndarray]:
    if not data or data[0] not in (2, 4):
        raise DecodeError("corrupt weight stream (brotli width)")
    width, total = data[0], sum(sizes)
    try:
        dec = brotli.Decompressor()
        raw = dec.process(data[1:], output_buffer_limit=width * total + 1)
        done = dec.is_finished()
    except brotli.error as exc:
        raise DecodeError(f"corrupt weight stream ({exc})") from None
    if len(raw) != width * total or not done:
        raise DecodeError("corrupt weight stream (wrong number of weights)")
    v = np.frombuffer(raw, dtype="<i4" if width == 4 else "<i2").astype(np.int64)
    if v.size and (v.min() < -max_abs or v.max() > max_abs):
        raise DecodeError(f"corrupt weight stream (integers {v.min()}..{v.max()} outside "
                          f"+-{max_abs})")
    v = v.astype(np.int32)
    return list(np.split(v, np.cumsum(sizes)[:-1])) if sizes else []


def encode_ints_all(arrays: list[np.ndarray]) -> dict[str, bytes]:
    """Every coder's stream (method byte included), by method name."""
    out = {"brotli": bytes([METHOD_BROTLI]) + _encode_brotli(arrays)}
    try:
        out["laplace-range"] = bytes([METHOD_LAPLACE]) + _encode_laplace(arrays)
    except ValueError:
        pass  # range too wide for a dense table: brotli only
    return out


def encode_ints(arrays: list[np.ndarray]) -> bytes:
    """Code a list of integer arrays; returns method byte + stream (shorter of the two coders)."""
    return min(encode_ints_all(arrays).values(), key=len)


def decode_ints(data: bytes, shapes: list[tuple[int, ...]],
                max_abs: int = MAX_INT) -> list[np.ndarray]:
    """Inverse of encode_ints; shapes come from the caller's network description, and every
    integer must lie within +-max_abs (the caller's bound: e.g. the quantiser's largest level)
    or the stream is refused before any table is built for it."""
    if not data:
        raise DecodeError("empty weight stream")
    sizes = [int(np.prod(s)) for s in shapes]
    max_abs = min(int(max_abs), MAX_INT)
    method, body = data[0], data[1:]
    if method == METHOD_LAPLACE:
        flat = _decode_laplace(body, sizes, max_abs)
    elif method == METHOD_BROTLI:
        flat = _decode_brotli(body, sizes, max_abs)
    else:
        raise DecodeError(f"corrupt weight stream (unknown method {method})")
    return [f.reshape(s) for f, s in zip(flat, shapes, strict=True)]


def method_name(data: bytes) -> str:
    return {METHOD_LAPLACE: "laplace-range", METHOD_BROTLI: "brotli"}.get(data[0], "?")
