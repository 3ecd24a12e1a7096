"""SINCO's INR configuration (pe-mlp preset `sinco`) and its rate by the paper's definition."""

from __future__ import annotations

import pytest

import inrcodec
from inrcodec.api import get_codec
from inrcodec.errors import ConfigError
from inrcodec.image import Image
from inrcodec.medical.paper import num_params, paper_bpp, width_for_bpp


def test_sinco_preset_has_twelve_bands_and_an_input_skip():
    codec = get_codec("pe-mlp")
    s = codec.make_settings("sinco")
    assert (s.bands, s.layers, s.width, tuple(s.skips)) == (12, 4, 24, (2,))
    net = codec.build(s, 1)
    enc = 2 + 4 * 12  # (y, x), then sin and cos of 12 octaves of each
    assert [layer.in_features for layer in net.hidden] == [enc, 24, 24 + enc, 24]
    assert num_params("pe-mlp", preset="sinco") == 4249 == sum(p.numel()
                                                               for p in net.parameters())


def test_paper_bpp_and_sizing_at_one_point_two():
    assert paper_bpp(4249, 240 * 240) == pytest.approx(1.1803, abs=1e-4)
    assert width_for_bpp("pe-mlp", 1.2, 240, 240, preset="sinco") == 24
    # the 2026-11 study's networks were sized the same way
    assert width_for_bpp("siren", 1.2, 240, 240, layers=4) == 37
    assert width_for_bpp("pe-mlp", 1.2, 240, 240, layers=3, bands=7, skips=()) == 39
    with pytest.raises(ConfigError):
        width_for_bpp("pe-mlp", 0, 240, 240)


def test_sinco_preset_round_trips(small):
    gray = Image(small.data.mean(0, keepdim=True), 8, "L")
    data = inrcodec.encode(gray, codec="pe-mlp", preset="sinco", steps=20, device="cpu",
                           lpips=False)
    assert inrcodec.info(bytes(data))["config"]["bands"] == 12
    decoded = inrcodec.decode(bytes(data), device="cpu")
    assert (decoded.to_codes() == data.reconstruction.to_codes()).all()
