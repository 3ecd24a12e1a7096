"""Hostile .inr files (issue 20): the decode cost is checked against limits before anything is
allocated, non-finite or out-of-range values are refused, and the container's structure is
exact. Every case is a file edited behind a recomputed CRC, as an attacker would make it."""

from __future__ import annotations

import json
import math
import struct
import zlib

import numpy as np
import pytest
from typer.testing import CliRunner

import inrcodec
from conftest import ROOT
from fuzzing import check_decode, join, split, with_crc
from inrcodec import Cost, DecodeLimits
from inrcodec.cli.main import app
from inrcodec.codecs.registry import CODECS, get_codec
from inrcodec.coding import entropy
from inrcodec.coding.container import MAGIC, Container, ImageInfo, pack, unpack, varint
from inrcodec.coding.quantize import qmax
from inrcodec.errors import DecodeError

GOLDEN = ROOT / "tests" / "golden"


def golden(name: str) -> bytes:
    return (GOLDEN / f"{name}.inr").read_bytes()


def edit(name: str, header=None, sections=None, **image) -> bytes:
    """A golden file with its header (a function of the header dict), image fields or
    sections (name -> bytes or None to drop) changed, CRC recomputed."""
    p = split(golden(name))
    if header is not None:
        p.header = header(p.header)
    if image:
        p.header = {**p.header, "img": {**p.header["img"], **image}}
    if sections:
        have = dict(p.sections)
        for k, v in sections.items():
            have[k.encode()] = v
        p.sections = [(k, v) for k, v in have.items() if v is not None]
    return with_crc(join(p))


def cfg(**fields):
    return lambda h: {**h, "cfg": {**h["cfg"], **fields}}


# -- 1. limits: the cost is checked from the header, before anything is allocated ------------

def _every_preset():
    for name, cls in CODECS.items():
        for preset in cls.presets:
            yield name, preset


@pytest.mark.parametrize("codec,preset", list(_every_preset()))
def test_default_limits_accept_every_preset_up_to_768x512(codec, preset):
    impl = get_codec(codec)
    s = impl.make_settings(preset)
    for h, w in ((512, 768), (768, 512), (24, 24)):
        for c, mode in ((1, "L"), (3, "RGB"), (4, "RGBA")):
            cost = impl.decode_cost(s, ImageInfo(h, w, c, 8, mode))
            DecodeLimits().check(cost, codec)
            assert cost.params > 0 and cost.macs > 0 and cost.peak_bytes > 0


def test_default_limits_accept_every_coolchic_model_up_to_768x512():
    """coolchic's model is its model byte (section h): every decoder (lop..vhop) with every
    combination of hyperlatents, ifce, preconcat and stabilisers."""
    from inrcodec.codecs.coolchic.five.codec import settings_of_byte

    impl = get_codec("coolchic")
    for b in range(64):
        s = settings_of_byte(impl.make_settings(), b)
        for h, w in ((512, 768), (768, 512)):
            for c, mode in ((1, "L"), (4, "RGBA")):
                DecodeLimits().check(impl.decode_cost(s, ImageInfo(h, w, c, 8, mode)),
                                     "coolchic")


def test_nif_680_is_about_1e11_mac_at_768x512():
    impl = get_codec("nif")
    cost = impl.decode_cost(impl.make_settings("680"), ImageInfo(512, 768, 3))
    assert 0.9e11 < cost.macs < DecodeLimits().max_macs


@pytest.mark.parametrize("field,value,words", [
    ("width", 4096, "parameters"),  # 64 x 4096^2: a billion weights
    ("layers", 64, None),
])
def test_a_huge_network_is_refused_before_anything_is_allocated(monkeypatch, field, value, words):
    data = edit("siren", cfg(layers=64, width=4096) if field == "width" else cfg(layers=64),
                h=4096, w=4096)

    def never(*a, **k):
        raise AssertionError("the decoder ran")

    monkeypatch.setattr(type(get_codec("siren")), "decode", never)
    with pytest.raises(DecodeError) as exc:
        inrcodec.decode(data, device="cpu")
    msg = str(exc.value)
    assert "siren" in msg and "layers=64" in msg and "4096x4096" in msg
    assert "--trust" in msg
    if words:
        assert words in msg


@pytest.mark.parametrize("limit,words", [
    (DecodeLimits(max_macs=1e6), "MAC"),
    (DecodeLimits(max_params=100), "parameters"),
    (DecodeLimits(max_peak_bytes=1e5), "memory"),
    (DecodeLimits(max_file_bytes=100), "file is"),
])
def test_each_limit_is_named_and_can_be_raised(limit, words):
    data = golden("nif")
    with pytest.raises(DecodeError, match=words):
        inrcodec.decode(data, device="cpu", limits=limit)
    a = inrcodec.decode(data, device="cpu", limits=DecodeLimits.unlimited())
    b = inrcodec.decode(data, device="cpu")
    assert np.array_equal(a.to_codes(), b.to_codes())


def test_cost_of_coolchic_counts_latents_and_the_wavefront():
    impl = get_codec("coolchic-v2")
    s = impl.make_settings()
    wide = impl.decode_cost(s, ImageInfo(1, 65536, 3))
    tall = impl.decode_cost(s, ImageInfo(65536, 1, 3))
    assert tall.params == wide.params  # the same latents...
    assert tall.macs > 2 * wide.macs  # ...but 4x more waves in a tall image
    bigger = impl.decode_cost(impl.make_settings(latent_channels=(4,) * 8), ImageInfo(64, 64, 3))
    assert bigger.params > impl.decode_cost(s, ImageInfo(64, 64, 3)).params


def test_cost_of_coolchic5_follows_the_model_byte_and_the_wavefront():
    impl = get_codec("coolchic")
    s = impl.make_settings()
    wide = impl.decode_cost(s, ImageInfo(1, 65536, 3))
    tall = impl.decode_cost(s, ImageInfo(65536, 1, 3))
    assert tall.params == wide.params and tall.macs > 1.5 * wide.macs  # 2x the waves
    info = ImageInfo(512, 768, 3)
    costs = [impl.decode_cost(impl.make_settings(decoder=d), info) for d in
             ("lop", "mop", "hop", "vhop")]
    assert [c.macs for c in costs] == sorted(c.macs for c in costs)
    # a file's cost is its model byte's, read from section h before anything is decoded
    h = unpack(golden("coolchic")).sections["h"]
    lop = inrcodec.decode_cost(golden("coolchic"))
    vhop = inrcodec.decode_cost(edit("coolchic", sections={"h": bytes([h[0] | 3]) + h[1:]}))
    assert "decoder=lop" in lop.detail and "decoder=vhop" in vhop.detail
    assert vhop.macs > lop.macs and vhop.params > lop.params


def test_a_huge_coolchic_image_is_refused_before_anything_is_allocated(monkeypatch):
    def never(*a, **k):
        raise AssertionError("the decoder ran")

    monkeypatch.setattr(type(get_codec("coolchic")), "decode", never)
    with pytest.raises(DecodeError) as exc:
        inrcodec.decode(edit("coolchic", h=4096, w=4096), device="cpu")
    msg = str(exc.value)
    assert "coolchic" in msg and "decoder=lop" in msg and "4096x4096" in msg
    assert "parameters" in msg and "--trust" in msg


def test_limits_must_be_positive_numbers():
    for bad in (0, -1, math.nan, "1e9", True):
        with pytest.raises(ValueError):
            DecodeLimits(max_macs=bad)
    assert DecodeLimits.unlimited().max_macs == math.inf


def test_cli_limits_trust_and_info(tmp_path):
    src = tmp_path / "a.inr"
    src.write_bytes(golden("nif"))
    runner = CliRunner()
    r = runner.invoke(app, ["decode", str(src), "-o", str(tmp_path / "a.png"),
                                               "--max-macs", "1e6"], env={"COLUMNS": "50"})
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert "MAC" in r.output and not (tmp_path / "a.png").exists()
    r = runner.invoke(app, ["decode", str(src), "-o", str(tmp_path / "a.png"),
                                               "--max-memory", "1K"])
    assert r.exit_code == 2 and "memory" in r.output
    r = runner.invoke(app, ["decode", str(src), "-o", str(tmp_path / "a.png"),
                                               "--max-macs", "1e6", "--trust"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a.png").is_file()
    r = runner.invoke(app, ["decode", str(src), "-o", str(tmp_path / "b.png"),
                                               "--max-memory", "lots"])
    assert r.exit_code == 2 and "--max-memory" in r.output
    r = runner.invoke(app, ["info", str(src), "--json"])
    cost = json.loads(r.output)["decode_cost"]
    assert cost == inrcodec.decode_cost(src.read_bytes()).to_dict()


# -- 2. non-finite and out-of-range values ------------------------------------------------------

def _weights(name: str):
    c = unpack(golden(name))
    impl = get_codec(c.codec)
    s = impl.settings_from_config(c.config)
    shapes = [tuple(t.shape) for t in impl.meta_net(s, c.image.channels).parameters()]
    return c, s, [a.astype(np.int64) for a in entropy.decode_ints(c.sections["w"], shapes)]


@pytest.mark.parametrize("step", [math.nan, math.inf, -math.inf, 0.0, -1.0, 1e30, 3.4e38])
@pytest.mark.parametrize("name", ["siren", "pe-mlp", "nif"])
def test_non_finite_or_absurd_quantisation_steps(name, step):
    c, _, _ = _weights(name)
    steps = np.frombuffer(c.sections["s"], "<f4").copy()
    steps[1] = step
    with pytest.raises(DecodeError, match="quantisation step of tensor 1"):
        inrcodec.decode(edit(name, sections={"s": steps.astype("<f4").tobytes()}), device="cpu")


@pytest.mark.parametrize("coder", ["brotli", "laplace-range"])
def test_integer_weights_past_the_quantisers_range(coder):
    c, s, ints = _weights("siren")
    ints[0].flat[0] = qmax(s.bits) + 1
    w = entropy.encode_ints_all([a.astype(np.int32) for a in ints])[coder]
    with pytest.raises(DecodeError, match="outside"):
        inrcodec.decode(edit("siren", sections={"w": w}), device="cpu")


def test_weights_that_render_non_finite_values_are_refused():
    """A deep ReLU network whose weights are all 2^20 overflows float64 to inf."""
    impl = get_codec("pe-mlp")
    s = impl.make_settings(layers=48, width=8, skips=(), bits=8)
    shapes = [tuple(t.shape) for t in impl.meta_net(s, 3).parameters()]
    level = qmax(s.bits)
    ints = [np.full(sh, level, np.int32) for sh in shapes]
    steps = np.full(len(shapes), 2.0 ** 20 / level, "<f4")
    sections = {"w": entropy.encode_ints(ints), "s": steps.tobytes()}
    data = pack(inrcodec.api.Container("pe-mlp", impl.config_of(s), ImageInfo(4, 4, 3), sections))
    with pytest.raises(DecodeError, match="non-finite"):
        inrcodec.decode(data, device="cpu")


def _coolchic5():
    """(section h's layout, its fields but the CRC, the integer arrays of section w) of the
    coolchic golden file."""
    from inrcodec.codecs.coolchic.five import codec as five

    c = unpack(golden("coolchic"))
    impl = get_codec("coolchic")
    s = impl.settings_from_sections(impl.settings_from_config(c.config), c.sections)
    shapes = five.array_shapes(five._meta_model(s, c.image))
    *head, _ = five._HEAD.unpack(c.sections["h"])
    ints = [a.astype(np.int64) for a in entropy.decode_ints(c.sections["w"], shapes)]
    return five._HEAD, head, ints


def _coolchic5_file(head, ints, coder="brotli") -> bytes:
    """The coolchic golden file with these section-h fields and integer weights, the weight
    checksum and the file's CRC recomputed (what an attacker would do)."""
    from inrcodec.codecs.coolchic.cost import weight_crc

    layout, _, _ = _coolchic5()
    w = entropy.encode_ints_all([a.astype(np.int32) for a in ints])[coder]
    return edit("coolchic", sections={"h": layout.pack(*head, weight_crc(ints, head)), "w": w})


@pytest.mark.parametrize("field,value,words", [
    (0, 0xC0 | 60, "model byte 0xfc sets unknown bits"),
    (1, 9, "arm weight step 2\\^-9 outside"),
    (4, 17, "ifce bias step 2\\^-17 outside"),
    (6, 1, "upsampling bias step 2\\^-1 outside"),
    (7, 13, "synthesis weight step 2\\^-13 outside"),
])
def test_coolchic_model_byte_and_steps_are_checked(field, value, words):
    _, head, ints = _coolchic5()
    head[field] = value
    with pytest.raises(DecodeError, match=words):
        inrcodec.decode(_coolchic5_file(head, ints), device="cpu")


@pytest.mark.parametrize("coder", ["brotli", "laplace-range"])
def test_coolchic_integer_weights_past_the_quantisers_range(coder):
    _, head, ints = _coolchic5()
    ints[-1].flat[0] = 65536
    with pytest.raises(DecodeError, match="section 'w'.*outside \\+-65535"):
        inrcodec.decode(_coolchic5_file(head, ints, coder), device="cpu")
    ints[-1].flat[0] = -65535  # at the bound: decodes, finite
    check_decode(_coolchic5_file(head, ints, coder))


def test_coolchic_model_byte_of_another_decoder_does_not_match_the_weights():
    _, head, ints = _coolchic5()
    head[0] = 3  # vhop without hyperlatents, IFCE, pre-filters or stabilisers
    with pytest.raises(DecodeError, match="section 'w'"):
        inrcodec.decode(_coolchic5_file(head, ints), device="cpu")


@pytest.mark.parametrize("img,words", [
    ({"o": 0.0, "s": 0.0}, "value mapping"),
    ({"o": 1e308, "s": 1.0}, "value mapping"),
    ({"o": 0.0, "s": -1.0}, "value mapping"),
    ({"o": 0.0, "s": 1e300}, "value mapping"),
    ({"h": 24.0}, "'h'"),
    ({"h": True}, "'h'"),
    ({"c": "3"}, "'c'"),
    ({"m": 3}, "'m'"),
    ({"x": []}, "'x'"),
    ({"x": {"nifti": {"affine": [[1, 0], [0, 1]], "dtype": "<i2"}}}, "affine"),
    ({"x": {"nifti": {"affine": np.eye(4).tolist(), "dtype": "<c16"}}}, "dtype"),
    ({"x": {"nifti": {"affine": np.eye(4).tolist(), "dtype": "O"}}}, "dtype"),
    ({"x": {"nifti": {"affine": (np.eye(4) * 1e300).tolist(), "dtype": "<i2"}}}, "affine"),
    ({"x": {"nifti": {"affine": np.zeros((4, 4)).tolist(), "dtype": "<i2"}}}, "affine"),
    ({"x": {"nifti": {"affine": [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
                      "dtype": "<i2"}}}, "affine"),
    ({"x": {"nifti": {"affine": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]],
                      "dtype": "<i2"}}}, "affine"),
    ({"x": {"nifti": {"affine": np.eye(4).tolist(), "dtype": "<f2"}}, "o": 1e6}, "fit"),
    ({"zz": 1}, "unknown image field"),
])
def test_image_description_fields_are_typed_and_finite(img, words):
    with pytest.raises(DecodeError, match=words):
        inrcodec.decode(edit("siren", **img), device="cpu")


# -- 3. exact structure ---------------------------------------------------------------------------

def test_trailing_bytes_after_the_crc():
    data = golden("siren")
    with pytest.raises(DecodeError, match="3 trailing bytes after the CRC"):
        inrcodec.decode(data + b"abc", device="cpu")


def test_trailing_bytes_before_the_crc():
    with pytest.raises(DecodeError, match="trailing bytes between the last section and the CRC"):
        inrcodec.decode(with_crc(golden("siren")[:-4] + b"junk"), device="cpu")


def test_a_cut_file_is_called_truncated():
    data = golden("siren")
    with pytest.raises(DecodeError, match="truncated"):
        inrcodec.decode(data[:-40], device="cpu")


def test_duplicate_missing_unknown_and_empty_sections():
    p = split(golden("siren"))
    dup = with_crc(join(type(p)(p.version, p.header, p.sections + [p.sections[0]])))
    with pytest.raises(DecodeError, match="duplicate section 'w'"):
        inrcodec.decode(dup, device="cpu")
    with pytest.raises(DecodeError, match="missing section.*'s'"):
        inrcodec.decode(edit("siren", sections={"s": None}), device="cpu")
    with pytest.raises(DecodeError, match="unknown section.*'x'"):
        inrcodec.decode(edit("siren", sections={"x": b"1"}), device="cpu")
    empty = with_crc(join(type(p)(p.version, p.header, [(b"", b"")] + p.sections)))
    with pytest.raises(DecodeError, match="empty name"):
        inrcodec.decode(empty, device="cpu")
    with pytest.raises(DecodeError, match="section 'h' is 3 bytes"):
        inrcodec.decode(edit("coolchic-v2", sections={"h": b"abc"}), device="cpu")
    with pytest.raises(DecodeError, match="coolchic: section 'h' is 3 bytes, expected 13"):
        inrcodec.decode(edit("coolchic", sections={"h": b"abc"}), device="cpu")
    with pytest.raises(DecodeError, match="coolchic: missing section 'h'"):
        inrcodec.decode(edit("coolchic", sections={"h": None}), device="cpu")


def test_sections_in_another_order_decode_the_same():
    p = split(golden("coolchic-v2"))
    p.sections = p.sections[::-1]
    a = inrcodec.decode(with_crc(join(p)), device="cpu")
    assert np.array_equal(a.to_codes(), inrcodec.decode(golden("coolchic-v2")).to_codes())


def _with_header_blob(name: str, blob: bytes) -> bytes:
    p = split(golden(name))
    p.header_blob = blob
    return with_crc(join(p))


def test_header_is_one_zlib_stream_of_strict_json():
    text = json.dumps(split(golden("siren")).header, separators=(",", ":"))
    cases = [
        (zlib.compress(text.encode()) + b"xx", "bytes after the deflate stream"),
        (zlib.compress(text.encode())[:-3], "truncated deflate stream"),
        (zlib.compress(b" " * (2 << 20), 9), "inflates to more than"),
        (zlib.compress(b"[" * 100_000 + b"]" * 100_000), "corrupt header"),
        (zlib.compress(("{" + text[1:-1] + "," + text[1:-1] + "}").encode()), "duplicate key"),
        (zlib.compress(text.replace('"w0":30.0', '"w0":NaN').encode()), "not a number"),
        (zlib.compress(text.replace('"w0":30.0', '"w0":1e999').encode()), "out of range"),
        (zlib.compress(text[:-1].encode() + b',"zz":1}'), "unknown key"),
        (zlib.compress(b'"siren"'), "not a JSON object"),
    ]
    for blob, words in cases:
        with pytest.raises(DecodeError, match=words):
            inrcodec.decode(_with_header_blob("siren", blob), device="cpu")


def _v2_with_config_blob(name: str, raw: bytes) -> bytes:
    """A golden file rewritten in format version 2 with `raw` as its config's deflate
    stream (the siren golden file has no value mapping or image extra after the flags)."""
    c = unpack(golden(name))
    head = Container(c.codec, {}, c.image, {}).header_bytes()
    body = [MAGIC, b"\x02", head[:-1], bytes([head[-1] | 4]), varint(len(raw)), raw,
            bytes([len(c.sections)])]
    for k, v in c.sections.items():
        body += [bytes([len(k)]), k.encode(), varint(len(v)), v]
    return with_crc(b"".join(body))


def test_version_2_config_is_one_deflate_stream_of_strict_json():
    def raw(b: bytes, level: int = 6) -> bytes:
        d = zlib.compressobj(level, zlib.DEFLATED, -15)
        return d.compress(b) + d.flush()

    cfg_ = unpack(golden("siren")).config
    text = json.dumps(cfg_, separators=(",", ":"))
    assert inrcodec.decode(_v2_with_config_blob("siren", raw(text.encode()))).height == 24
    cases = [
        (raw(text.encode()) + b"xx", "bytes after the deflate stream"),
        (raw(text.encode())[:-3], "truncated deflate stream|codec config"),
        (raw(b" " * (2 << 20), 9), "inflates to more than"),
        (raw(("{" + text[1:-1] + "," + text[1:-1] + "}").encode()), "duplicate key"),
        (raw(text.replace('"w0":30.0', '"w0":NaN').encode()), "not a number"),
        (raw(text.replace('"w0":30.0', '"w0":1e999').encode()), "out of range"),
        (raw(text[:-1].encode() + b',"zz":1}'), "unknown field"),
        (raw(b'"siren"'), "not a non-empty JSON object"),
        (raw(b"{}"), "not a non-empty JSON object"),
    ]
    for blob, words in cases:
        with pytest.raises(DecodeError, match=words):
            inrcodec.decode(_v2_with_config_blob("siren", blob), device="cpu")


@pytest.mark.parametrize("name,fields,words", [
    ("siren", {"width": 20.5}, "field 'width' must be an integer"),
    ("siren", {"width": True}, "field 'width' must be an integer"),
    ("siren", {"w0": "30"}, "field 'w0' must be a finite number"),
    ("pe-mlp", {"skips": [1.5]}, "field 'skips' must be a list"),
    ("pe-mlp", {"skips": 3}, "field 'skips' must be a list"),
    ("pe-mlp", {"width": 48.0}, "field 'width' must be an integer"),
    ("nif", {"hidden": [24, [16]]}, "field 'hidden' must be a list"),
    ("nif", {"hidden": [1] * 65}, "field 'hidden' must be a list of at most 64"),
    ("nif", {"freqs": 33}, "freqs"),
    ("coolchic-v2", {"synthesis": "X-9-linear-none"}, "kernel"),
    ("coolchic-v2", {"latent_channels": [5]}, "latent_channels"),
    ("coolchic-v1", {"arm_context": 25}, "arm_context"),
    ("coolchic-v1", {"upsampling": None}, "field 'upsampling' must be a string"),
    ("coolchic", {"decoder": "vhop"}, "unknown field.*'decoder'"),  # it is in section h
])
def test_config_fields_are_checked_against_the_codecs_schema(name, fields, words):
    with pytest.raises(DecodeError, match=words):
        inrcodec.decode(edit(name, cfg(**fields)), device="cpu")


def test_missing_and_unknown_config_fields_are_named():
    with pytest.raises(DecodeError, match="missing field.*bits"):
        inrcodec.decode(edit("siren", lambda h: {**h, "cfg": {k: v for k, v in h["cfg"].items()
                                                                if k != "bits"}}))
    with pytest.raises(DecodeError, match="unknown field.*'steps'"):
        inrcodec.decode(edit("siren", cfg(steps=5)))


def test_golden_files_still_parse_to_the_same_container():
    """Stricter checks only: every golden file's layout still reads (version 1)."""
    for path in sorted(GOLDEN.glob("*.inr")):
        data = path.read_bytes()
        c = unpack(data)
        assert data[4] == 1
        again = unpack(pack(c))  # and rewritten in version 2, the same container
        assert (again.codec, again.config, again.image, again.sections) == (
            c.codec, c.config, c.image, c.sections)
        assert isinstance(inrcodec.decode_cost(data), Cost)


def test_the_step_table_must_match_the_network_exactly():
    c, _, _ = _weights("nif")
    with pytest.raises(DecodeError, match="section 's' is"):
        inrcodec.decode(edit("nif", sections={"s": c.sections["s"] + b"\0\0\0\0"}))
    big = b"\1" + b"\0" * (1 << 20)
    with pytest.raises(DecodeError, match="section 'w' is"):
        inrcodec.decode(edit("nif", sections={"w": big}))


def test_header_field_values_as_struct_layout_does_not_change():
    """The version-1 layout: magic, version, u16 header length, header, u8 count, sections."""
    data = golden("nif")
    (hlen,) = struct.unpack_from("<H", data, 5)
    assert data[7 + hlen] == len(unpack(data).sections)


def test_hostile_names_in_messages_stay_on_one_line():
    """Found by the fuzz benchmark: a key named "\\n!y" put a line break into the message."""
    cases = [edit("pe-mlp", lambda h: {**h, "\n!y": 1}),
             edit("pe-mlp", **{"\n!y": 1}),
             edit("pe-mlp", cfg(**{"\n!y": 1}))]
    for data in cases:
        with pytest.raises(DecodeError) as exc:
            inrcodec.decode(data)
        assert "\n" not in str(exc.value) and "'\\n!y'" in str(exc.value)
    assert str(DecodeError("a\nb  c")) == "a b c"
