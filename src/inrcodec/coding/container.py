"""The .inr container: everything needed to decode, validated before anything is allocated.

Layout (all integers little-endian):

    magic       4 bytes  b"INR\\x1a"
    version     u8       FORMAT_VERSION
    header_len  u16      length of the header blob
    header      bytes    zlib-deflated compact JSON: codec name, codec config, image description
    n_sections  u8
    per section:
        name_len u8, name (ascii), data_len u32, data
    crc32       u32      CRC-32 of every byte before it

The CRC is checked before the header is parsed, so a flipped bit anywhere is reported as
corruption rather than as some odd downstream failure. Lengths are checked against the bytes
actually present before any slice is taken.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field

from ..errors import DecodeError
from ..image import MAX_PIXELS

MAGIC = b"INR\x1a"
FORMAT_VERSION = 1
MAX_SECTIONS = 64
MAX_SIDE = 1 << 16
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
        if not isinstance(d, dict):
            raise DecodeError("corrupt header: image description is not an object")
        try:
            info = cls(int(d["h"]), int(d["w"]), int(d["c"]), int(d["b"]), str(d["m"]),
                       float(d.get("o", 0.0)), float(d.get("s", 1.0)), dict(d.get("x", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise DecodeError(f"corrupt header: bad image description ({exc})") from None
        info.validate()
        return info

    def validate(self) -> None:
        if not (1 <= self.height <= MAX_SIDE and 1 <= self.width <= MAX_SIDE):
            raise DecodeError(f"absurd image size {self.width}x{self.height}")
        if self.height * self.width > MAX_PIXELS:
            raise DecodeError(f"absurd image size {self.width}x{self.height}")
        expected = {"L": 1, "RGB": 3, "RGBA": 4}.get(self.mode)
        if expected is None or expected != self.channels:
            raise DecodeError(f"bad mode/channels {self.mode}/{self.channels}")
        if self.bit_depth not in (8, 16):
            raise DecodeError(f"bad bit depth {self.bit_depth}")


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


def unpack(data: bytes) -> Container:
    """Parse and validate a container; raises DecodeError with a one-line reason."""
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
        # Distinguish a cut file from a corrupted one when the lengths already don't add up.
        raise DecodeError("corrupt or truncated file (CRC mismatch)")
    r = _Reader(data, body_end)
    r.take(5, "magic")
    (hlen,) = r.unpack("<H", "header length")
    hblob = r.take(hlen, "header")
    try:
        header = json.loads(zlib.decompress(hblob, bufsize=hlen * 4 + 64))
    except (zlib.error, ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"corrupt header ({exc})") from None
    if not isinstance(header, dict) or not isinstance(header.get("codec"), str) \
            or not isinstance(header.get("cfg"), dict):
        raise DecodeError("corrupt header: missing codec or config")
    image = ImageInfo.from_dict(header.get("img"))
    (n,) = r.unpack("<B", "section count")
    if n > MAX_SECTIONS:
        raise DecodeError(f"corrupt file: {n} sections")
    sections: dict[str, bytes] = {}
    for _ in range(n):
        (nlen,) = r.unpack("<B", "section name length")
        try:
            name = r.take(nlen, "section name").decode("ascii")
        except UnicodeDecodeError:
            raise DecodeError("corrupt section name") from None
        (dlen,) = r.unpack("<I", "section length")
        sections[name] = r.take(dlen, f"section {name!r}")
    if r.pos != body_end:
        raise DecodeError("corrupt file: trailing bytes after the last section")
    return Container(header["codec"], header["cfg"], image, sections)
