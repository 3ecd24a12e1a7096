import struct
import zlib

import pytest

import inrcodec
from inrcodec.coding.container import (
    FORMAT_VERSION,
    MAGIC,
    Container,
    ImageInfo,
    pack,
    unpack,
)
from inrcodec.errors import DecodeError


@pytest.fixture(scope="module")
def tiny_file(sample):
    from conftest import crop

    return bytes(inrcodec.encode(crop(sample, 40, 100, 12, 10), codec="siren", steps=20,
                                 layers=2, width=6, metrics=False))


def _recrc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_roundtrip_of_fields():
    c = Container("siren", {"a": 1, "b": [1, 2]}, ImageInfo(5, 7, 1, 16, "L", -3.0, 2.0,
                                                             {"affine": [[1, 0], [0, 1]]}),
                  {"w": b"\x01\x02", "s": b""})
    d = unpack(pack(c))
    assert d.codec == "siren" and d.config == c.config and d.sections == c.sections
    assert d.image == c.image


def test_truncation_at_every_byte(tiny_file):
    for n in range(len(tiny_file)):
        with pytest.raises(DecodeError):
            inrcodec.decode(tiny_file[:n])


def test_every_header_bit_flip_is_caught(tiny_file):
    header_end = 7 + struct.unpack("<H", tiny_file[5:7])[0] + 1
    for i in range(header_end):
        for bit in range(8):
            bad = bytearray(tiny_file)
            bad[i] ^= 1 << bit
            with pytest.raises(DecodeError):
                inrcodec.decode(bytes(bad))


def test_flips_with_valid_crc_never_escape_as_other_errors(tiny_file):
    """Corruption that the CRC cannot see (CRC recomputed) must still end in DecodeError or a
    well-formed image, never another exception or a hang."""
    body = tiny_file[:-4]
    for i in range(len(body)):
        bad = bytearray(body)
        bad[i] ^= 0x10
        try:
            img = inrcodec.decode(_recrc(bytes(bad)))
        except DecodeError:
            continue
        assert img.data.ndim == 3


def test_wrong_magic_and_version(tiny_file):
    with pytest.raises(DecodeError, match="magic"):
        inrcodec.decode(b"PNG0" + tiny_file[4:])
    bad = bytearray(tiny_file)
    bad[4] = FORMAT_VERSION + 1
    with pytest.raises(DecodeError, match="version"):
        inrcodec.decode(_recrc(bytes(bad[:-4])))
    with pytest.raises(DecodeError):
        inrcodec.decode(b"")


@pytest.mark.parametrize("h,w", [(0, 5), (70000, 10), (60000, 60000)])
def test_absurd_dimensions_rejected_before_allocation(h, w):
    info = ImageInfo(1, 1, 3)
    info.height, info.width = h, w  # bypass validation on the writing side
    data = pack(Container("siren", {}, info, {}))
    with pytest.raises(DecodeError, match="absurd"):
        unpack(data)


def test_unknown_codec_and_bad_config(tiny_file):
    c = unpack(tiny_file)
    with pytest.raises(DecodeError, match="unknown"):
        inrcodec.decode(pack(Container("nope", c.config, c.image, c.sections)))
    cfg = dict(c.config, width=10 ** 9)
    with pytest.raises(DecodeError):
        inrcodec.decode(pack(Container(c.codec, cfg, c.image, c.sections)))
    cfg = dict(c.config, layers="x")
    with pytest.raises(DecodeError):
        inrcodec.decode(pack(Container(c.codec, cfg, c.image, c.sections)))


def test_files_start_with_the_version_1_layout(tiny_file):
    """The first bytes of every file: magic, format version 1, then the header length."""
    data = bytes(tiny_file)
    assert data[:5] == b"INR\x1a\x01" and data[:4] == MAGIC
    (hlen,) = struct.unpack("<H", data[5:7])
    assert 0 < hlen < len(data) - 12
