"""The .inr container: everything needed to decode, validated before anything is allocated.

Layout (all integers little-endian):

    magic       4 bytes  b"INR\\x1a"
    version     u8       FORMAT_VERSION
    header_len  u16      length of the header blob
    header      bytes    zlib-deflated compact JSON: codec name, codec config, image description
    n_sections  u8
    per section:
        name_len u8, name (ascii), data_len u32, data
    crc32       u32      CRC-32 of every byte before it; the last four bytes of the file

The CRC is checked before the header is parsed, so a flipped bit anywhere is reported as
corruption rather than as some odd downstream failure. Lengths are checked against the bytes
actually present before any slice is taken. A CRC does not authenticate anything (a file edited
and re-checksummed is as easy to make as a valid one), so every field is also checked for its
exact type and range: duplicate or empty section names, bytes after the CRC or between the last
section and the CRC, a header that is not exactly one zlib stream of JSON, duplicate JSON keys,
NaN or infinite numbers, unknown header or image fields are all DecodeErrors. What the codec's
config asks for is checked against `coding.limits` before anything is allocated (`api.decode`).
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
FORMAT_VERSION = 1
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
        blob = json.dumps({"codec": self.codec, "cfg": self.config, "img": self.image.to_dict()},
                          separators=(",", ":"), sort_keys=True).encode()
        return zlib.compress(blob, 9)


def pack(container: Container) -> bytes:
    header = container.header_bytes()
    if len(header) > 0xFFFF:
        raise ValueError("header too large")
    if len(container.sections) > MAX_SECTIONS:
        raise ValueError("too many sections")
    parts = [MAGIC, struct.pack("<BH", FORMAT_VERSION, len(header)), header,
             struct.pack("<B", len(container.sections))]
    for name, data in container.sections.items():
        raw = name.encode("ascii")
        if not 1 <= len(raw) <= 255:
            raise ValueError(f"bad section name {name!r}")
        parts += [struct.pack("<B", len(raw)), raw, struct.pack("<I", len(data)), data]
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


def _declared_end(data: bytes) -> int | None:
    """Where the body ends by the lengths it declares (None: they run past the end of the
    data). Read before the CRC is trusted, to tell trailing bytes and cuts from corruption."""
    try:
        r = _Reader(data, len(data))
        r.take(5, "magic")
        (hlen,) = r.unpack("<H", "header length")
        r.take(hlen, "header")
        (n,) = r.unpack("<B", "section count")
        for _ in range(n):
            (nlen,) = r.unpack("<B", "section name length")
            r.take(nlen, "section name")
            (dlen,) = r.unpack("<I", "section length")
            r.take(dlen, "section")
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


def parse_header(hblob: bytes) -> dict:
    """zlib-deflated JSON -> {"codec": str, "cfg": dict, "img": dict}, strictly: one whole
    zlib stream and nothing after it, at most MAX_HEADER_JSON bytes inflated, no duplicate
    keys, no NaN or infinite numbers, no other top-level keys."""
    d = zlib.decompressobj()
    try:
        raw = d.decompress(hblob, MAX_HEADER_JSON)
    except zlib.error as exc:
        raise DecodeError(f"corrupt header ({exc})") from None
    if d.unconsumed_tail:
        raise DecodeError(f"corrupt header: inflates to more than {MAX_HEADER_JSON} bytes")
    if not d.eof:
        raise DecodeError("corrupt header: truncated zlib stream")
    if d.unused_data:
        raise DecodeError(f"corrupt header: {len(d.unused_data)} bytes after the zlib stream")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys,
                            parse_float=_finite_float, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DecodeError(f"corrupt header ({type(exc).__name__}: {_short(str(exc), 80)})"
                          ) from None
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
    if version != FORMAT_VERSION:
        raise DecodeError(f"unsupported .inr format version {version} "
                          f"(this inrcodec reads version {FORMAT_VERSION})")
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
    (hlen,) = r.unpack("<H", "header length")
    header = parse_header(r.take(hlen, "header"))
    image = ImageInfo.from_dict(header["img"])
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
        (dlen,) = r.unpack("<I", "section length")
        sections[name] = r.take(dlen, f"section {name!r}")
    if r.pos != body_end:
        raise DecodeError(f"corrupt file: {body_end - r.pos} trailing bytes between the last "
                          "section and the CRC")
    return Container(header["codec"], header["cfg"], image, sections)
