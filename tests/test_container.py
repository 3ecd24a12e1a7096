import json
import struct
import zlib

import pytest
import torch

import inrcodec
from inrcodec.coding.container import (
    FORMAT_VERSION,
    MAGIC,
    Container,
    ImageInfo,
    deflate_json,
    pack,
    unpack,
    varint,
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


def pack_v1(c: Container) -> bytes:
    """A version 1 file (every file written before version 2), built by hand."""
    blob = zlib.compress(json.dumps({"codec": c.codec, "cfg": c.config,
                                     "img": c.image.to_dict()}).encode())
    parts = [MAGIC, struct.pack("<BH", 1, len(blob)), blob, bytes([len(c.sections)])]
    for name, data in c.sections.items():
        parts += [bytes([len(name)]), name.encode(), struct.pack("<I", len(data)), data]
    return _recrc(b"".join(parts))


def test_version_1_files_still_read(tiny_file):
    c = unpack(tiny_file)
    old = pack_v1(c)
    assert old[4] == 1 and len(old) > len(tiny_file) + 40
    d = unpack(old)
    assert (d.codec, d.config, d.image, d.sections) == (c.codec, c.config, c.image, c.sections)
    assert pack(d) == bytes(tiny_file)  # rewritten, the same version 2 file
    assert torch.equal(inrcodec.decode(old).data, inrcodec.decode(tiny_file).data)


def test_version_2_header_is_small():
    # a low-rate Cool-chic file: 3 sections, the latents' over 127 bytes
    c = Container("coolchic", {}, ImageInfo(256, 384, 3),
                  {"h": b"x" * 13, "w": b"x" * 400, "l": b"x" * 700})
    overhead = len(pack(c)) - 1113
    assert overhead <= 40 and len(pack_v1(c)) - 1113 >= overhead + 50, overhead
    mapped = Container("siren", {"layers": 4}, ImageInfo(240, 240, 1, 16, "L", -2.5, 0.125,
                                                         {"note": [1, 2]}), {"w": b"1"})
    assert unpack(pack(mapped)).image == mapped.image


def _v2_header(codec: bytes, fields: bytes) -> bytes:
    return _recrc(MAGIC + b"\x02" + bytes([len(codec)]) + codec + fields + b"\x00")


@pytest.mark.parametrize("fields, match", [
    (b"\x05\x07\x01\x08\x00", None),  # valid: 7x5 RGB, 8 bits, no flags
    (b"\x85\x00\x07\x01\x08\x00", "minimal varint"),  # 5 written in two bytes
    (b"\x05\x07\x01\x08\x08", "flags"),
    (b"\x05\x07\x03\x08\x00", "mode"),
    (b"\x05\x07\x01\x0c\x00", "bit depth"),
    (b"\x05\x07\x01\x08\x01" + struct.pack("<dd", 0.0, 1.0), "identity"),
    (b"\x05\x07\x01\x08\x04" + varint(len(deflate_json({}))) + deflate_json({}), "non-empty"),
    (b"\x05\x07\x01\x08\x04\x03abc", "codec config"),
    (b"\x80\x80\x80\x80\x80\x01\x07\x01\x08\x00", "5 bytes"),
    (b"\x00\x07\x01\x08\x00", "absurd"),
])
def test_version_2_header_fields_are_checked(fields, match):
    data = _v2_header(b"siren", fields)
    if match is None:
        c = unpack(data)
        assert (c.codec, c.image.height, c.image.width, c.image.channels) == ("siren", 5, 7, 3)
        return
    with pytest.raises(DecodeError, match=match):
        unpack(data)


def test_every_header_bit_flip_is_caught(tiny_file):
    header_end = 5 + len(unpack(tiny_file).header_bytes()) + 1
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


def test_files_start_with_the_version_2_layout(tiny_file):
    """The first bytes of every file: magic, format version 2, then the codec's name."""
    data = bytes(tiny_file)
    assert data[:5] == b"INR\x1a\x02" and data[:4] == MAGIC and FORMAT_VERSION == 2
    assert data[5] == len("siren") and data[6:11] == b"siren"
