"""The .inr container: everything needed to decode, validated before anything is allocated.

Layout of format version 2, what `pack` writes (integers little-endian; varint = unsigned
LEB128, minimal length, at most 5 bytes):

    magic       4 bytes  b"INR\\x1a"
    version     u8       2
    codec       u8 length, ascii name
    image       varint height, varint width, u8 mode (0 L, 1 RGB, 2 RGBA: the channels),
                u8 bit depth (8 or 16)
    flags       u8       1: value mapping, 2: image extra, 4: codec config (other bits 0)
    [mapping]   f64 offset, f64 scale   (value = offset + scale * code; absent: 0, 1)
    [extra]     varint length, raw-deflated compact JSON object (e.g. NIfTI affine and dtype)
    [config]    varint length, raw-deflated compact JSON object (the codec's decode settings)
    n_sections  u8
    per section:
        name_len u8, name (ascii), data_len varint, data
    crc32       u32      CRC-32 of every byte before it; the last four bytes of the file

Version 1 (every file written before; still read) had, after the version byte, a u16 header
length, one zlib stream of JSON {"codec", "cfg", "img"}, the section count, and u32 section
lengths. Version 2 carries the same fields in ~35 bytes instead of ~100, which is 5 % of a
1 KB file (a low-rate Cool-chic image).

The CRC is checked before the header is parsed, so a flipped bit anywhere is reported as
corruption rather than as some odd downstream failure. Lengths are checked against the bytes
actually present before any slice is taken. A CRC does not authenticate anything (a file edited
and re-checksummed is as easy to make as a valid one), so every field is also checked for its
exact type and range: duplicate or empty section names, bytes after the CRC or between the last
section and the CRC, non-minimal varints, unknown flags, an identity mapping or an empty object
written out, JSON that is not exactly one deflate stream, duplicate JSON keys, NaN or infinite
numbers, unknown header or image fields are all DecodeErrors. What the codec's config asks for
is checked against `coding.limits` before anything is allocated (`api.decode`).
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..errors import DecodeError
from ..image import MAX_PIXELS

MAGIC = b"INR\x1a"
FORMAT_VERSION = 2  # what pack writes; unpack reads READ_VERSIONS
READ_VERSIONS = (1, 2)
MODES = ("L", "RGB", "RGBA")  # version 2's mode byte indexes this
MAX_SECTIONS = 64
MAX_SIDE = 1 << 16
MAX_HEADER_JSON = 1 << 20  # bytes of header JSON, inflated
_CRC = struct.Struct("<I")


@dataclass
class ImageInfo:
    """What the decoder must know about the image (not about the model)."""

    height: int
    width: int
    channels: int
    bit_depth: int = 8
    mode: str = "RGB"
    offset: float = 0.0  # value = offset + scale * code (medical intensity units)
    scale: float = 1.0
    extra: dict = field(default_factory=dict)  # e.g. NIfTI affine and dtype

    def to_dict(self) -> dict:
        d = {"h": self.height, "w": self.width, "c": self.channels, "b": self.bit_depth,
             "m": self.mode}
        if self.offset != 0.0 or self.scale != 1.0:
            d["o"], d["s"] = self.offset, self.scale
        if self.extra:
            d["x"] = self.extra
        return d

    @classmethod
    def from_dict(cls, d: object) -> ImageInfo:
        """The header's image description, every field of its exact type (DecodeError)."""
        if not isinstance(d, dict):
            raise DecodeError("corrupt header: image description is not an object")
        unknown = sorted(set(d) - set(_IMG_FIELDS))
        if unknown:
            raise DecodeError("corrupt header: unknown image field(s) "
                              + ", ".join(_short(k) for k in unknown))
        for key, (kinds, required) in _IMG_FIELDS.items():
            if key not in d:
                if required:
                    raise DecodeError(f"corrupt header: image field {key!r} is missing")
                continue
            v = d[key]
            if isinstance(v, bool) or not isinstance(v, kinds):
                raise DecodeError(f"corrupt header: image field {key!r} has a bad value "
                                  f"({_short(v)})")
        info = cls(d["h"], d["w"], d["c"], d["b"], d["m"], float(d.get("o", 0.0)),
                   float(d.get("s", 1.0)), dict(d.get("x", {})))
        info.validate()
        return info

    def validate(self) -> None:
        if not (1 <= self.height <= MAX_SIDE and 1 <= self.width <= MAX_SIDE):
            raise DecodeError(f"absurd image size {self.width}x{self.height}")
        if self.height * self.width > MAX_PIXELS:
            raise DecodeError(f"absurd image size {self.width}x{self.height}")
        expected = {"L": 1, "RGB": 3, "RGBA": 4}.get(self.mode)
        if expected is None or expected != self.channels:
            raise DecodeError(f"bad mode/channels {_short(self.mode)}/{self.channels}")
        if self.bit_depth not in (8, 16):
            raise DecodeError(f"bad bit depth {self.bit_depth}")
        top = self.offset + self.scale * ((1 << self.bit_depth) - 1)
        if not (math.isfinite(self.offset) and math.isfinite(self.scale) and self.scale > 0
                and math.isfinite(top) and abs(self.offset) <= MAX_VALUE
                and abs(top) <= MAX_VALUE):
            raise DecodeError(f"corrupt header: value mapping offset={self.offset!r} "
                              f"scale={self.scale!r} (finite, scale > 0, values within "
                              f"+-{MAX_VALUE:g})")
        if "nifti" in self.extra:
            _check_nifti(self.extra["nifti"], self.offset, top)


# header image fields: accepted JSON types, required
_IMG_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "h": ((int,), True), "w": ((int,), True), "c": ((int,), True), "b": ((int,), True),
    "m": ((str,), True), "o": ((int, float), False), "s": ((int, float), False),
    "x": ((dict,), False),
}
MAX_VALUE = 1e300  # |source-unit value| of a pixel (offset + scale * code)
MAX_AFFINE = 1e15  # |entry| of a NIfTI affine (mm)


def _short(v: object, n: int = 40) -> str:
    r = repr(v)
    return r if len(r) <= n else r[:n] + "..."


def _check_nifti(nii: object, low: float, high: float) -> None:
    """The NIfTI description a decoded slice is written back with (io.nifti.write_nifti)."""
    def bad(field_: str, v: object) -> DecodeError:
        return DecodeError(f"corrupt header: NIfTI field {field_!r} has a bad value "
                           f"({_short(v)})")

    if not isinstance(nii, dict):
        raise bad("nifti", nii)
    aff = nii.get("affine")
    if not (isinstance(aff, list) and len(aff) == 4 and all(
            isinstance(row, list) and len(row) == 4 and all(
                isinstance(a, int | float) and not isinstance(a, bool) and math.isfinite(a)
                and abs(a) <= MAX_AFFINE for a in row) for row in aff)):
        raise bad("affine", aff)
    a = np.asarray(aff, dtype=np.float64)
    if (list(a[3]) != [0.0, 0.0, 0.0, 1.0] or np.linalg.norm(a[:3, :3], axis=0).min() < 1e-9
            or not abs(np.linalg.det(a[:3, :3])) >= 1e-36):
        raise bad("affine", aff)  # not an affine map a NIfTI file can hold (singular)
    for key, hi in (("slice", 1 << 31), ("axis", 2)):
        v = nii.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= hi:
            raise bad(key, v)
    shape = nii.get("shape", [1])
    if not (isinstance(shape, list) and 1 <= len(shape) <= 7 and all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= (1 << 31)
            for n in shape)):
        raise bad("shape", shape)
    dt = nii.get("dtype")
    try:
        dtype = np.dtype(dt) if isinstance(dt, str) and len(dt) <= 8 else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "iuf" or dtype.itemsize > 8:
        raise bad("dtype", dt)
    if dtype.kind == "f" and max(abs(low), abs(high)) > float(np.finfo(dtype).max):
        raise DecodeError(f"corrupt header: values up to {max(abs(low), abs(high)):g} do not "
                          f"fit the NIfTI dtype {dtype}")


@dataclass
class Container:
    codec: str
    config: dict
    image: ImageInfo
    sections: dict[str, bytes]

    def header_bytes(self) -> bytes:
        """Everything between the version byte and the section count (version 2)."""
        img = self.image
        name = self.codec.encode("ascii")
        if not 1 <= len(name) <= 255:
            raise ValueError(f"bad codec name {self.codec!r}")
        mapping = img.offset != 0.0 or img.scale != 1.0
        flags = (1 if mapping else 0) | (2 if img.extra else 0) | (4 if self.config else 0)
        parts = [bytes([len(name)]), name, varint(img.height), varint(img.width),
                 bytes([MODES.index(img.mode), img.bit_depth, flags])]
        if mapping:
            parts.append(struct.pack("<dd", img.offset, img.scale))
        for obj in ([img.extra] if img.extra else []) + ([self.config] if self.config else []):
            blob = deflate_json(obj)
            parts += [varint(len(blob)), blob]
        return b"".join(parts)


def varint(n: int) -> bytes:
    """Unsigned LEB128."""
    if n < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def deflate_json(obj: object) -> bytes:
    """Compact JSON, raw deflate (no zlib wrapper: the file's CRC covers it)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    return c.compress(raw) + c.flush()


def pack(container: Container) -> bytes:
    header = container.header_bytes()
    if len(container.sections) > MAX_SECTIONS:
        raise ValueError("too many sections")
    parts = [MAGIC, bytes([FORMAT_VERSION]), header, bytes([len(container.sections)])]
    for name, data in container.sections.items():
        raw = name.encode("ascii")
        if not 1 <= len(raw) <= 255:
            raise ValueError(f"bad section name {name!r}")
        parts += [bytes([len(raw)]), raw, varint(len(data)), data]
    body = b"".join(parts)
    return body + _CRC.pack(zlib.crc32(body))


class _Reader:
    def __init__(self, data: bytes, end: int) -> None:
        self.data, self.pos, self.end = data, 0, end

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise DecodeError(f"truncated file: {what} runs past the end")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        s = struct.Struct(fmt)
        return s.unpack(self.take(s.size, what))

    def varint(self, what: str) -> int:
        """Unsigned LEB128 of at most 5 bytes, in its shortest form."""
        n = 0
        for i in range(5):
            (b,) = self.take(1, what)
            n |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                if b == 0 and i > 0:
                    raise DecodeError(f"corrupt file: {what} is not a minimal varint")
                return n
        raise DecodeError(f"corrupt file: {what} runs over 5 bytes")

    def length(self, version: int, what: str) -> int:
        return self.unpack("<I", what)[0] if version == 1 else self.varint(what)


def _declared_end(data: bytes) -> int | None:
    """Where the body ends by the lengths it declares (None: they run past the end of the
    data). Read before the CRC is trusted, to tell trailing bytes and cuts from corruption."""
    try:
        r = _Reader(data, len(data))
        r.take(4, "magic")
        (version,) = r.take(1, "version")
        if version == 1:
            (hlen,) = r.unpack("<H", "header length")
            r.take(hlen, "header")
        else:
            _read_header_v2(r)
        (n,) = r.unpack("<B", "section count")
        for _ in range(n):
            (nlen,) = r.unpack("<B", "section name length")
            r.take(nlen, "section name")
            r.take(r.length(version, "section length"), "section")
    except DecodeError:
        return None
    return r.pos


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise DecodeError(f"corrupt header: duplicate key {_short(k)}")
        out[k] = v
    return out


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise DecodeError(f"corrupt header: number {_short(text)} out of range")
    return v


def _no_constant(text: str) -> float:
    raise DecodeError(f"corrupt header: {text} is not a number")


def _inflate_json(blob: bytes, what: str, wbits: int) -> object:
    """One whole deflate stream (zlib-wrapped for wbits 15, raw for -15) of JSON, strictly:
    nothing after the stream, at most MAX_HEADER_JSON bytes inflated, no duplicate keys, no
    NaN or infinite numbers."""
    d = zlib.decompressobj(wbits)
    try:
        raw = d.decompress(blob, MAX_HEADER_JSON)
    except zlib.error as exc:
        raise DecodeError(f"corrupt {what} ({exc})") from None
    if d.unconsumed_tail:
        raise DecodeError(f"corrupt {what}: inflates to more than {MAX_HEADER_JSON} bytes")
    if not d.eof:
        raise DecodeError(f"corrupt {what}: truncated deflate stream")
    if d.unused_data:
        raise DecodeError(f"corrupt {what}: {len(d.unused_data)} bytes after the deflate "
                          "stream")
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys,
                          parse_float=_finite_float, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DecodeError(f"corrupt {what} ({type(exc).__name__}: {_short(str(exc), 80)})"
                          ) from None


def parse_header(hblob: bytes) -> dict:
    """Version 1's zlib-deflated JSON -> {"codec": str, "cfg": dict, "img": dict}, strictly
    (`_inflate_json`), with no other top-level keys."""
    header = _inflate_json(hblob, "header", 15)
    if not isinstance(header, dict):
        raise DecodeError("corrupt header: not a JSON object")
    if set(header) != {"codec", "cfg", "img"}:
        extra = sorted(set(header) - {"codec", "cfg", "img"})
        missing = sorted({"codec", "cfg", "img"} - set(header))
        raise DecodeError("corrupt header: " + (f"missing {', '.join(missing)}" if missing else
                                                "unknown key(s) "
                                                + ", ".join(_short(k) for k in extra)))
    if not isinstance(header["codec"], str) or not isinstance(header["cfg"], dict):
        raise DecodeError("corrupt header: missing codec or config")
    return header


def _read_header_v2(r: _Reader) -> tuple[str, dict, ImageInfo]:
    """Version 2's binary header (module docstring) -> (codec, config, image)."""
    (nlen,) = r.unpack("<B", "codec name length")
    try:
        codec = r.take(nlen, "codec name").decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("corrupt header: codec name is not ascii") from None
    if not codec or not codec.isprintable():
        raise DecodeError(f"corrupt header: bad codec name {_short(codec)}")
    h, w = r.varint("image height"), r.varint("image width")
    mode, bits, flags = r.unpack("<BBB", "image mode, bit depth and flags")
    if mode >= len(MODES):
        raise DecodeError(f"corrupt header: unknown image mode {mode}")
    if flags & ~7:
        raise DecodeError(f"corrupt header: unknown flags {flags:#04x}")
    offset, scale = r.unpack("<dd", "value mapping") if flags & 1 else (0.0, 1.0)
    if flags & 1 and offset == 0.0 and scale == 1.0:
        raise DecodeError("corrupt header: identity value mapping written out")
    objects = []
    for bit, what in ((2, "image extra"), (4, "codec config")):
        if flags & bit:
            obj = _inflate_json(r.take(r.varint(f"{what} length"), what), what, -15)
            if not isinstance(obj, dict) or not obj:
                raise DecodeError(f"corrupt header: {what} is not a non-empty JSON object")
            objects.append(obj)
        else:
            objects.append({})
    extra, config = objects
    m = MODES[mode]
    img: dict = {"h": h, "w": w, "c": len(m), "b": bits, "m": m}  # L, RGB, RGBA: 1, 3, 4
    if flags & 1:
        img |= {"o": offset, "s": scale}
    if extra:
        img["x"] = extra
    return codec, config, ImageInfo.from_dict(img)


def unpack(data: bytes) -> Container:
    """Parse and validate a container; raises DecodeError with a one-line reason.

    Stricter than the layout alone: the CRC must be the file's last four bytes (nothing after
    it), section names unique and non-empty, the sections must end exactly at the CRC, and the
    header must be exactly one zlib stream of well-formed JSON (see `parse_header`)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError("expected bytes")
    data = bytes(data)
    if len(data) < len(MAGIC) or data[:4] != MAGIC:
        raise DecodeError("not an .inr file (wrong magic bytes)")
    if len(data) < 4 + 3 + 1 + 4:
        raise DecodeError("truncated file")
    version = data[4]
    if version not in READ_VERSIONS:
        raise DecodeError(f"unsupported .inr format version {version} "
                          f"(this inrcodec reads versions "
                          f"{', '.join(map(str, READ_VERSIONS))})")
    body_end = len(data) - 4
    (crc,) = _CRC.unpack(data[body_end:])
    if zlib.crc32(data[:body_end]) != crc:
        # Name a cut file or bytes appended after the CRC when the lengths tell so.
        end = _declared_end(data)
        if end is None:
            raise DecodeError("truncated or corrupt file (CRC mismatch; the sections run "
                              "past the end of the file)")
        if end + 4 < len(data) and data[end:end + 4] == _CRC.pack(zlib.crc32(data[:end])):
            raise DecodeError(f"corrupt file: {len(data) - end - 4} trailing bytes after the "
                              "CRC")
        raise DecodeError("corrupt or truncated file (CRC mismatch)")
    r = _Reader(data, body_end)
    r.take(5, "magic")
    if version == 1:
        (hlen,) = r.unpack("<H", "header length")
        header = parse_header(r.take(hlen, "header"))
        codec, config, image = header["codec"], header["cfg"], ImageInfo.from_dict(header["img"])
    else:
        codec, config, image = _read_header_v2(r)
    (n,) = r.unpack("<B", "section count")
    if n > MAX_SECTIONS:
        raise DecodeError(f"corrupt file: {n} sections")
    sections: dict[str, bytes] = {}
    for _ in range(n):
        (nlen,) = r.unpack("<B", "section name length")
        if nlen == 0:
            raise DecodeError("corrupt file: a section has an empty name")
        try:
            name = r.take(nlen, "section name").decode("ascii")
        except UnicodeDecodeError:
            raise DecodeError("corrupt section name") from None
        if not name.isprintable():
            raise DecodeError(f"corrupt section name {_short(name)}")
        if name in sections:
            raise DecodeError(f"corrupt file: duplicate section {name!r}")
        sections[name] = r.take(r.length(version, "section length"), f"section {name!r}")
    if r.pos != body_end:
        raise DecodeError(f"corrupt file: {body_end - r.pos} trailing bytes between the last "
                          "section and the CRC")
    return Container(codec, config, image, sections)


def repack(data: bytes) -> bytes:
    """A file of an older format version rewritten in the current one: the same codec,
    config, image and sections, so it decodes to the same pixels (DecodeError if `data` is
    not a valid file)."""
    return pack(unpack(data))
