"""Structure-aware mutations of .inr files: Hypothesis strategies over the container.

A file is split into its parts (version, header JSON, sections; a version 2 file's binary
header as the same JSON, written back field by field), a few mutations edit them
(header fields set to hostile values, keys dropped or added, the header blob replaced, section
bytes overwritten, cut or extended, sections dropped, duplicated, renamed or reordered, the
section count or version byte changed, the file cut or extended), and the file is joined again
with its CRC recomputed (or, for a few cases, deliberately not), so that every case reaches
the parser and the decoders behind the CRC. `check_decode` is the property: the decode either
raises DecodeError or returns a well-formed image, without any other exception or warning.

Used by tests/test_fuzz.py (about 2,000 cases on the golden files, under tight limits) and
benchmarks/fuzz_decode.py (100,000+ cases under the default limits).
"""

from __future__ import annotations

import atexit
import json
import math
import os
import random
import shutil
import struct
import tempfile
import time
import warnings
import zlib
from dataclasses import dataclass, field

import torch
from hypothesis import strategies as st

import inrcodec
from inrcodec.coding import container
from inrcodec.coding.limits import DecodeLimits
from inrcodec.errors import DecodeError, InputError

# -- the parts of a file -------------------------------------------------------------------------


@dataclass
class Parts:
    version: int
    header: object  # the JSON value ({"codec", "cfg", "img"} in a valid file)
    sections: list[tuple[bytes, bytes]]  # (name, data) in file order
    header_blob: bytes | None = None  # raw replacement of the deflated header, if set
    count: int | None = None  # a section count to write instead of the true one
    ops: list[str] = field(default_factory=list)
    layout: int = 1  # the format version whose layout `join` writes (`version` is the byte)


def split(data: bytes) -> Parts:
    """The parts of a valid file (trusted: the corpus), of format version 1 or 2. A version 2
    file's binary header becomes the same JSON value as version 1's, so that the same
    mutations edit both (`join` writes each field back in its binary form)."""
    if data[4] == 2:
        c = container.unpack(data)
        header = {"codec": c.codec, "cfg": c.config, "img": c.image.to_dict()}
        return Parts(2, header, [(k.encode(), v) for k, v in c.sections.items()], layout=2)
    (hlen,) = struct.unpack_from("<H", data, 5)
    header = json.loads(zlib.decompress(data[7:7 + hlen]))
    pos = 7 + hlen
    n = data[pos]
    pos += 1
    sections = []
    for _ in range(n):
        nlen = data[pos]
        name = data[pos + 1:pos + 1 + nlen]
        pos += 1 + nlen
        (dlen,) = struct.unpack_from("<I", data, pos)
        sections.append((name, data[pos + 4:pos + 4 + dlen]))
        pos += 4 + dlen
    return Parts(data[4], header, sections)


def with_version_2(corpus: dict[str, bytes]) -> dict[str, bytes]:
    """The corpus and, for each version 1 file, the same file in version 2 ("NAME@v2")."""
    out = dict(corpus)
    for name, data in corpus.items():
        if data[4] == 1:
            out[f"{name}@v2"] = container.pack(container.unpack(data))
    return out


def _v2_varint(v: object) -> bytes:
    """A binary field from a (possibly hostile) JSON value: what does not fit a varint is
    written as a malformed one."""
    if isinstance(v, bool) or not isinstance(v, int):
        return b"\x80\x00"  # not minimal
    if v < 0:
        return b""  # missing: the fields after it shift
    return container.varint(v) if v < 1 << 35 else b"\xff" * 5 + b"\x01"  # over 5 bytes


def _v2_float(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return math.inf if isinstance(v, int) else math.nan


def _v2_deflate(v: object) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(json.dumps(v, separators=(",", ":")).encode("utf-8", "surrogatepass")
                      ) + c.flush()


def _v2_header(header: object, blob: bytes | None) -> bytes:
    """Version 2's binary header for a (possibly hostile) JSON header value; a replacement
    `blob` (m_header_blob: zlib streams) goes in as the codec config's raw deflate stream."""
    h = header if isinstance(header, dict) else {}
    codec = h.get("codec", "")
    name = (codec if isinstance(codec, str) else json.dumps(codec)).encode(
        "utf-8", "surrogatepass")[:255]
    img = h.get("img") if isinstance(h.get("img"), dict) else {}
    mode = img.get("m")
    code = (container.MODES.index(mode) if mode in container.MODES
            else 3 + len(str(mode)) % 253)
    bits = img.get("b")
    flags = (1 if "o" in img or "s" in img else 0) | (2 if "x" in img else 0)
    cfg = h.get("cfg", {})
    if blob is not None or cfg != {}:
        flags |= 4
    out = [bytes([len(name)]), name, _v2_varint(img.get("h")), _v2_varint(img.get("w")),
           bytes([code, bits & 0xFF if isinstance(bits, int) else 0xFF, flags])]
    if flags & 1:
        out.append(struct.pack("<dd", _v2_float(img.get("o", 0.0)), _v2_float(img.get("s", 1.0))))
    if flags & 2:
        x = _v2_deflate(img["x"])
        out += [container.varint(len(x)), x]
    if flags & 4:
        c = (blob[2:-4] if len(blob) >= 6 else blob) if blob is not None else _v2_deflate(cfg)
        out += [container.varint(len(c)), c]
    return b"".join(out)


def join(p: Parts) -> bytes:
    """The body (magic to the last section) of a file with these parts."""
    if p.layout == 2:
        out = [container.MAGIC, bytes([p.version & 0xFF]), _v2_header(p.header, p.header_blob),
               bytes([(len(p.sections) if p.count is None else p.count) & 0xFF])]
        for name, data in p.sections:
            out += [bytes([len(name) & 0xFF]), name, container.varint(len(data)), data]
        return b"".join(out)
    if p.header_blob is not None:
        blob = p.header_blob
    else:
        blob = zlib.compress(json.dumps(p.header, separators=(",", ":")).encode("utf-8",
                                                                                "surrogatepass"))
    out = [container.MAGIC, struct.pack("<BH", p.version & 0xFF, len(blob) & 0xFFFF), blob,
           struct.pack("<B", (len(p.sections) if p.count is None else p.count) & 0xFF)]
    for name, data in p.sections:
        out += [struct.pack("<B", len(name) & 0xFF), name, struct.pack("<I", len(data)), data]
    return b"".join(out)


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


# -- hostile values ------------------------------------------------------------------------------

INTS = [0, 1, -1, 2, 3, 4, 7, 8, 15, 16, 17, 20, 21, 24, 25, 31, 32, 33, 63, 64, 65, 255, 256,
        257, 1000, 4095, 4096, 4097, 65535, 65536, 65537, 1 << 24, (1 << 31) - 1, 1 << 31,
        1 << 32, 1 << 53, (1 << 53) + 1, (1 << 63) - 1, 1 << 63, 1 << 64, 10 ** 30, -(1 << 31),
        -(1 << 63), 10 ** 400]
FLOATS = [0.0, -0.0, 0.5, 1.0, 1.0000001, 1e-300, 5e-324, 1e300, 1.7976931348623157e308,
          -1e308, 1e-7, 0.1, 2.5, 3.9999, 4.0, 4.0000001, 30.0, 999.9, 1000.0, 1000.0001,
          math.nan, math.inf, -math.inf]
STRINGS = ["", "X", "L", "RGB", "RGBA", "P", "CMYK", "learned", "bicubic", "siren", "pe-mlp",
           "nif", "coolchic-v1", "coolchic-v2", "coolchic", "lop", "vhop", "\x00", "\ud800", "é",
           "a" * 5000, "1", "nan",
           "X-1-linear-none", "3-1-linear-none", "256-7-linear-relu," * 15 + "X-7-linear-none",
           "X-3-residual-relu", "40-1-linear-relu,X-1-linear-none,X-3-residual-relu",
           "0-1-linear-none,X-1-linear-none", "X-9-linear-none", "X-2-linear-none",
           "X-1-linear-sigmoid", "X-1-linear-none," * 17, ",", "<f4", "|u1", "<c16", "V8",
           "<U4", "O"]

leaf_values = (st.none() | st.booleans() | st.sampled_from(INTS) | st.integers(-5, 5000)
               | st.sampled_from(FLOATS) | st.floats() | st.sampled_from(STRINGS)
               | st.text(max_size=12))


def _spec_layer() -> st.SearchStrategy[str]:
    return st.builds(lambda o, k, t, a: f"{o}-{k}-{t}-{a}",
                     st.sampled_from(["X", "0", "1", "3", "4", "40", "256", "257", "99999"]),
                     st.sampled_from(["0", "1", "2", "3", "5", "7", "9"]),
                     st.sampled_from(["linear", "residual", "conv"]),
                     st.sampled_from(["relu", "leakyrelu", "gelu", "none", "tanh"]))


synthesis_specs = st.lists(_spec_layer(), min_size=0, max_size=18).map(",".join)

hostile_values = st.recursive(
    leaf_values | synthesis_specs,
    lambda inner: (st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=4), inner,
                                                                  max_size=4)),
    max_leaves=12)

int_lists = (st.lists(st.sampled_from(INTS) | st.integers(0, 300), max_size=20)
             | st.sampled_from([[], [0], [4096] * 16, [1] * 64, [1] * 65, [256] * 4,
                                [4] * 8, [4] * 9, [0] * 8, [1.5], [[1]], ["1"], [True],
                                [None], [4096, 4096]]))


@st.composite
def nudged(draw, value: object) -> object:
    """A value near an existing one, or of a neighbouring type."""
    if isinstance(value, bool):
        return draw(st.sampled_from([not value, int(value), str(value).lower(), None]))
    if isinstance(value, int):
        # an int grown past float's range by earlier edits keeps its float neighbours out
        near = [float(value), value + 0.5] if abs(value) < 2**1000 else [math.inf, -0.5]
        return draw(st.sampled_from([value + 1, value - 1, value * 2, value * 16, value * 1000,
                                     -value, *near, str(value), [value], value << 20]))
    if isinstance(value, float):
        whole = int(value) if math.isfinite(value) else 0
        return draw(st.sampled_from([value * 2, value * 1e6, value * 1e300, -value, 0.0,
                                     whole, value + 1e-9, str(value), math.nextafter(
                                         value, math.inf), math.nan]))
    if isinstance(value, str):
        return draw(st.sampled_from([value + "x", value[:-1], value.upper(), value * 3, "",
                                     value + "," + value, value.replace("1", "7"),
                                     value.replace("-1-", "-7-"), value.replace("X", "256")]))
    if isinstance(value, list):
        choice = draw(st.integers(0, 5))
        if choice == 0 or not value:
            return [*value, draw(st.sampled_from(INTS) | st.integers(0, 300))]
        if choice == 1:
            return value[:-1]
        if choice == 2:
            i = draw(st.integers(0, len(value) - 1))
            return [*value[:i], draw(nudged(value[i])), *value[i + 1:]]
        if choice == 3:
            return value * draw(st.sampled_from([2, 8, 40]))
        if choice == 4:
            return list(reversed(value))
        return draw(int_lists)
    if isinstance(value, dict):
        return draw(st.sampled_from([{}, {**value, "zz": 1}, dict(list(value.items())[:-1])]))
    return draw(hostile_values)


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _get(value: object, path: tuple) -> object:
    for k in path:
        value = value[k]
    return value


def _set(value: object, path: tuple, new: object) -> object:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _set(value[head], rest, new)}
    copy = list(value)
    copy[head] = _set(copy[head], rest, new)
    return copy


def _delete(value: object, path: tuple) -> object:
    if len(path) == 1:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != path[0]}
        return [v for i, v in enumerate(value) if i != path[0]]
    head = path[0]
    if isinstance(value, dict):
        return {**value, head: _delete(value[head], path[1:])}
    copy = list(value)
    copy[head] = _delete(copy[head], path[1:])
    return copy


def _bytes(draw, n: int) -> bytes:
    """n pseudo-random bytes from one drawn seed (keeps Hypothesis' own data small)."""
    return random.Random(draw(st.integers(0, 1 << 32))).randbytes(n)


SIZES = st.sampled_from([0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 64, 255, 1024, 65536])


# -- mutations: each takes (draw, parts) and edits parts in place -------------------------------

def m_header_field(draw, p: Parts) -> None:
    paths = _paths(p.header)
    if not paths:
        return
    path = draw(st.sampled_from(paths))
    old = _get(p.header, path)
    if path and path[-1] == "synthesis":
        new = draw(synthesis_specs | nudged(old) | hostile_values)
    elif isinstance(old, list) and all(isinstance(v, int) for v in old):
        new = draw(int_lists | nudged(old) | hostile_values)
    else:
        new = draw(nudged(old) | hostile_values)
    p.header = _set(p.header, path, new)
    p.ops.append(f"header {'.'.join(map(str, path))}={_short(new)}")


def m_header_delete(draw, p: Parts) -> None:
    paths = _paths(p.header)
    if not paths:
        return
    path = draw(st.sampled_from(paths))
    p.header = _delete(p.header, path)
    p.ops.append(f"header del {'.'.join(map(str, path))}")


def m_header_add(draw, p: Parts) -> None:
    dicts = [()] + [q for q in _paths(p.header) if isinstance(_get(p.header, q), dict)]
    path = draw(st.sampled_from(dicts))
    key = draw(st.sampled_from(["zz", "x", "o", "s", "codec", "bits", "steps", "lr", "h",
                                "nifti", "decoder", "ifce", ""]) | st.text(max_size=4))
    target = _get(p.header, path)
    if isinstance(target, dict):
        value = draw(hostile_values)
        p.header = _set(p.header, path, {**target, key: value})
        p.ops.append(f"header add {'.'.join(map(str, (*path, key)))}={_short(value)}")


def m_header_blob(draw, p: Parts) -> None:
    """The deflated header replaced: not zlib, zlib of something else, junk after the stream,
    a bomb, duplicate keys, NaN tokens, deep nesting, a cut stream."""
    text = json.dumps(p.header, separators=(",", ":"))
    kind = draw(st.sampled_from(["random", "json-value", "junk-after", "bomb", "dup-key", "nan",
                                 "deep", "cut", "empty", "not-utf8", "long-number"]))
    if kind == "random":
        blob = _bytes(draw, draw(SIZES))
    elif kind == "json-value":
        blob = zlib.compress(json.dumps(draw(hostile_values)).encode("utf-8", "surrogatepass"))
    elif kind == "junk-after":
        blob = zlib.compress(text.encode()) + _bytes(draw, draw(st.integers(1, 8)))
    elif kind == "bomb":
        blob = zlib.compress(b"[" + b" " * (1 << 21) + b"]", 9)
    elif kind == "dup-key":
        blob = zlib.compress(("{" + text[1:-1] + "," + text[1:-1] + "}").encode())
    elif kind == "nan":
        blob = zlib.compress(text.replace("30.0", "NaN").replace("1.4", "Infinity")
                             .replace(":1,", ":1e999,").encode())
    elif kind == "deep":
        blob = zlib.compress(b"[" * 100000 + b"]" * 100000)
    elif kind == "cut":
        full = zlib.compress(text.encode())
        blob = full[:draw(st.integers(0, max(0, len(full) - 1)))]
    elif kind == "empty":
        blob = zlib.compress(b"")
    elif kind == "not-utf8":
        blob = zlib.compress(text.encode()[:-2] + b"\xff\xfe}")
    else:
        blob = zlib.compress(text.replace(":", ":" + "9" * 5000 + "+", 1).encode())
    p.header_blob = blob
    p.ops.append(f"header blob {kind}")


def m_section_bytes(draw, p: Parts) -> None:
    if not p.sections:
        return
    i = draw(st.integers(0, len(p.sections) - 1))
    name, data = p.sections[i]
    kind = draw(st.sampled_from(["overwrite", "insert", "delete", "truncate", "extend",
                                 "replace", "empty", "set-byte", "int-field"]))
    n = len(data)
    pos = draw(st.integers(0, n)) if kind != "truncate" else draw(st.integers(0, max(n - 1, 0)))
    if kind == "overwrite":
        k = draw(st.integers(1, 16))
        data = data[:pos] + _bytes(draw, k) + data[pos + k:]
    elif kind == "insert":
        data = data[:pos] + _bytes(draw, draw(SIZES)) + data[pos:]
    elif kind == "delete":
        data = data[:pos] + data[pos + draw(st.integers(1, 64)):]
    elif kind == "truncate":
        data = data[:pos]
    elif kind == "extend":
        data = data + _bytes(draw, draw(SIZES))
    elif kind == "replace":
        data = _bytes(draw, draw(SIZES))
    elif kind == "empty":
        data = b""
    elif kind == "set-byte":
        data = data[:pos] + bytes([draw(st.sampled_from([0, 1, 2, 4, 0x7F, 0x80, 0xFF]))]) \
            + data[pos + 1:]
    else:  # a little-endian integer field (lengths, counts, steps) set to a hostile value
        width = draw(st.sampled_from([1, 2, 4]))
        value = draw(st.sampled_from([0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF,
                                      0xFFFFFFFF, 0x7F7FFFFF, 0x7F800000, 0x7FC00000]))
        raw = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        data = data[:pos] + raw + data[pos + width:]
    p.sections[i] = (name, data)
    p.ops.append(f"section {name!r} {kind}@{pos}")


def m_section_list(draw, p: Parts) -> None:
    kind = draw(st.sampled_from(["drop", "duplicate", "unknown", "rename", "reorder", "count",
                                 "swap-data"]))
    s = p.sections
    if kind == "drop" and s:
        del s[draw(st.integers(0, len(s) - 1))]
    elif kind == "duplicate" and s:
        i = draw(st.integers(0, len(s) - 1))
        s.insert(draw(st.integers(0, len(s))), (s[i][0], draw(st.sampled_from(
            [s[i][1], b"", s[i][1][::-1]]))))
    elif kind == "unknown":
        s.insert(draw(st.integers(0, len(s))), (draw(st.sampled_from(
            [b"x", b"W", b"ww", b"\x00", b"\xff", b"", b"l" * 255])), _bytes(draw, 8)))
    elif kind == "rename" and s:
        i = draw(st.integers(0, len(s) - 1))
        s[i] = (draw(st.sampled_from([b"w", b"s", b"h", b"l", b"", b"\xe9", b"w\x00", b" w"])),
                s[i][1])
    elif kind == "reorder" and len(s) > 1:
        order = draw(st.permutations(range(len(s))))
        p.sections = [s[j] for j in order]
    elif kind == "count":
        p.count = draw(st.sampled_from([0, len(s) - 1, len(s) + 1, 64, 65, 255]))
    elif kind == "swap-data" and len(s) > 1:
        i, j = draw(st.permutations(range(len(s))))[:2]
        s[i], s[j] = (s[i][0], s[j][1]), (s[j][0], s[i][1])
    p.ops.append(f"sections {kind}")


INR_CODECS = ("siren", "pe-mlp", "nif")
STEP_VALUES = [0.0, -0.0, -1.0, math.nan, math.inf, -math.inf, 1e30, 1e-45, 3.4e38, 1.0, 1e6,
               1e-3, 64.0, 2.0 ** 20 / 2047]


def _decoded_payload(p: Parts):
    """(codec, settings, info, shapes, ints, head) of a file whose header and weights still
    decode, else None: the start of edits to the payload's values behind a valid coding.
    `shapes` are the coded arrays of section w; `head` is Cool-chic's section-h layout (its
    bytes but the CRC: the module steps, after coolchic's model byte), None for weight-INRs."""
    from inrcodec.codecs.registry import get_codec
    from inrcodec.coding import entropy
    from inrcodec.coding.container import ImageInfo

    if p.header_blob is not None or not isinstance(p.header, dict):
        return None
    try:
        impl = get_codec(p.header["codec"])
        sections = dict(p.sections)
        settings = impl.settings_from_sections(
            impl.settings_from_config(p.header["cfg"]),
            {k.decode("utf-8", "replace"): v for k, v in p.sections})
        info = ImageInfo.from_dict(p.header["img"])
        head = None
        if impl.name in INR_CODECS:
            shapes = [tuple(t.shape) for t in impl.meta_net(settings,
                                                           info.channels).parameters()]
            ok = len(sections[b"s"]) == 4 * len(shapes)
        elif impl.name == "coolchic":
            from inrcodec.codecs.coolchic.five import codec as five

            shapes, head = five.array_shapes(five._meta_model(settings, info)), five._HEAD
            ok = True  # settings_from_sections checked section h
        else:
            from inrcodec.codecs.coolchic.codec import _HEAD, _shapes
            shapes, head = _shapes(settings, info.channels, info.height, info.width), _HEAD
            ok = len(sections[b"h"]) == _HEAD.size
        if not ok:
            return None
        ints = entropy.decode_ints(sections[b"w"], shapes)
    except Exception:  # noqa: BLE001 - an earlier mutation broke it: nothing to edit
        return None
    return impl, settings, info, shapes, [a.astype("int64") for a in ints], head


def m_payload_values(draw, p: Parts) -> None:
    """Hostile values behind a valid coding: integer weights at or past the quantiser's range,
    quantisation steps that are NaN, infinite, zero, huge or denormal (weight-INRs); module
    steps 2^-k out of range, another model byte (coolchic) and extreme integer weights with
    the weight checksum recomputed (Cool-chic). The entropy coding is redone, so the values
    reach the decoder's checks."""
    import brotli
    import numpy as np

    from inrcodec.coding import entropy
    from inrcodec.coding.quantize import qmax

    got = _decoded_payload(p)
    if got is None:
        return
    impl, settings, info, shapes, ints, head = got
    sections = dict(p.sections)
    nonempty = [i for i, a in enumerate(ints) if a.size]
    if not nonempty:
        return
    i = draw(st.sampled_from(nonempty))
    j = draw(st.integers(0, ints[i].size - 1))
    if head is None:
        level = qmax(settings.bits)
        if draw(st.booleans()):
            steps = np.frombuffer(sections[b"s"], dtype="<f4").copy()
            value = draw(st.sampled_from(STEP_VALUES))
            steps[i % steps.size] = value
            sections[b"s"] = steps.astype("<f4").tobytes()
            what = f"step[{i}]={value!r}"
        else:
            value = draw(st.sampled_from([level, -level, level + 1, -level - 1, 0,
                                          (1 << 31) - 1, -(1 << 31) + 1, 1 << 20]))
            ints[i].flat[j] = value
            what = f"weight[{i}][{j}]={value}"
    else:
        from inrcodec.codecs.coolchic.cost import weight_crc

        *kvals, _ = head.unpack(sections[b"h"])
        if draw(st.booleans()):  # a step, or coolchic's model byte (decoder and flags)
            value = draw(st.sampled_from([0, 1, 3, 16, 17, 30, 63, 64, 255]))
            kvals[draw(st.integers(0, len(kvals) - 1))] = value
            what = f"k={value}"
        else:
            value = draw(st.sampled_from([(1 << 16) - 1, -(1 << 16) + 1, (1 << 16),
                                          (1 << 16) + 1, -(1 << 16) - 1, (1 << 31) - 1,
                                          -(1 << 31) + 1, 1 << 24, 0]))
            ints[i].flat[j] = value
            what = f"weight[{i}][{j}]={value}"
        sections[b"h"] = head.pack(*kvals, weight_crc(ints, kvals))
    # the brotli method at a low quality (the Laplace coder's search for its decay takes a
    # second a file; its decoder's checks are reached by the section-bytes edits)
    v = np.concatenate([a.reshape(-1) for a in ints])
    wide = bool(v.size) and (v.min() < -32768 or v.max() > 32767)
    raw = v.astype("<i4" if wide else "<i2").tobytes()
    sections[b"w"] = bytes([entropy.METHOD_BROTLI, 4 if wide else 2]) + brotli.compress(
        raw, quality=1)
    p.sections = [(name, sections[name]) for name, _ in p.sections]
    p.ops.append(f"payload {what}")


def m_version(draw, p: Parts) -> None:
    p.version = draw(st.sampled_from([0, 1, 2, 3, 255]))  # 1 or 2: the other layout's byte
    p.ops.append(f"version {p.version}")


MUTATIONS = {"header-field": m_header_field, "header-delete": m_header_delete,
             "header-add": m_header_add, "header-blob": m_header_blob,
             "section-bytes": m_section_bytes, "section-list": m_section_list,
             "payload-values": m_payload_values, "version": m_version}
# the header's fields and the sections' bytes are where hostile files are made
WEIGHTS = {"header-field": 8, "header-delete": 1, "header-add": 1, "header-blob": 1,
           "section-bytes": 6, "section-list": 2, "payload-values": 3, "version": 0.2}


@dataclass(frozen=True)
class Case:
    base: str  # the corpus file it was made from
    ops: tuple[str, ...]
    data: bytes

    def __repr__(self) -> str:  # what Hypothesis prints for a failing case
        return f"Case({self.base!r}, {self.ops!r}, {len(self.data)} bytes: {self.data.hex()})"


class Corpus(dict):
    """name -> file bytes, with a short repr (Hypothesis prints strategies' arguments)."""

    def __repr__(self) -> str:
        return f"Corpus({', '.join(sorted(self))})"


@st.composite
def hostile_files(draw, corpus: Corpus,
                  kinds: tuple[str, ...] = tuple(MUTATIONS)) -> Case:
    """One to three mutations of a corpus file, then its CRC recomputed; the file as a whole is
    sometimes cut or extended (after the CRC, or before it with the CRC recomputed)."""
    base = draw(st.sampled_from(sorted(corpus)))
    p = split(corpus[base])
    names = [k for k in kinds for _ in range(max(1, round(WEIGHTS[k] * 5)))]
    for _ in range(draw(st.integers(1, 3))):
        MUTATIONS[draw(st.sampled_from(names))](draw, p)
    body = join(p)
    tail = draw(st.sampled_from(["crc"] * 12 + ["cut", "cut-recrc", "trailing", "trailing-recrc",
                                               "no-crc", "flip"]))
    data = with_crc(body)
    if tail == "cut":
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif tail == "cut-recrc":
        data = with_crc(body[:draw(st.integers(0, len(body)))])
    elif tail == "trailing":
        data = data + _bytes(draw, draw(st.integers(1, 64)))
    elif tail == "trailing-recrc":
        data = with_crc(body + _bytes(draw, draw(st.integers(1, 64))))
    elif tail == "no-crc":
        data = body
    elif tail == "flip":
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1:]
    ops = tuple(p.ops) + ((tail,) if tail != "crc" else ())
    return Case(base, ops, data)


# -- the property --------------------------------------------------------------------------------

# Tight limits for the test suite's tiny files: whatever a mutation makes the decoder accept
# decodes in a fraction of a second (the benchmark runs under the default limits).
TEST_LIMITS = DecodeLimits(max_macs=2e9, max_params=1 << 20, max_peak_bytes=512 << 20,
                           max_file_bytes=1 << 20)


@dataclass
class Outcome:
    accepted: bool
    seconds: float
    message: str  # the DecodeError's, when rejected


_OUT = tempfile.mkdtemp(prefix="inrcodec-fuzz-")
atexit.register(shutil.rmtree, _OUT, True)


def check_decode(data: bytes, limits: DecodeLimits | None = None, write: bool = True
                 ) -> Outcome:
    """Decode; anything but a DecodeError or a well-formed image raises AssertionError (or the
    stray exception itself). Warnings count as failures (e.g. numpy's invalid-cast warning).
    With `write`, an accepted image is also written as `inrcodec decode` would (NIfTI for a
    NIfTI slice, else PNG): InputError (e.g. 16-bit colour, which PNG cannot hold) is the only
    failure allowed there."""
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            image = inrcodec.decode(data, device="cpu", limits=limits)
        except DecodeError as exc:
            outcome = Outcome(False, time.perf_counter() - t, str(exc))
            assert str(exc) and "\n" not in str(exc), "DecodeError without a one-line message"
        else:
            outcome = Outcome(True, time.perf_counter() - t, "")
            info = container.unpack(data).image
            assert tuple(image.data.shape) == (info.channels, info.height, info.width)
            assert image.mode == info.mode and image.bit_depth == info.bit_depth
            assert bool(torch.isfinite(image.data).all())
            assert float(image.data.min()) >= 0.0 and float(image.data.max()) <= 1.0
            if write:
                name = "out.nii.gz" if "nifti" in image.meta else "out.png"
                try:
                    inrcodec.write_image(image, os.path.join(_OUT, name))
                except InputError:
                    pass
    stray = [w for w in caught if not issubclass(w.category, DeprecationWarning
                                                  | PendingDeprecationWarning)]
    assert not stray, (f"warning during decode or write: {stray[0].category.__name__}: "
                       f"{stray[0].message}")
    return outcome


def _short(v: object, n: int = 60) -> str:
    r = repr(v)
    return r if len(r) <= n else r[:n] + "..."
