"""Golden files: every codec's committed .inr decodes to the same pixels, and encoding again
with the same seed gives the same bytes where the files were written (same torch, same CPU
architecture). Rewrite them with scripts/make_golden.py only for an intended format change."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import platform

import pytest
import torch

import inrcodec
from conftest import ROOT

GOLDEN = ROOT / "tests" / "golden"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
CASES = sorted(MANIFEST["files"])


def _maker():
    spec = importlib.util.spec_from_file_location("make_golden", ROOT / "scripts" /
                                                  "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_codec_has_a_golden_file():
    from inrcodec.codecs.registry import CODECS

    covered = {inrcodec.info((GOLDEN / f"{c}.inr").read_bytes())["codec"] for c in CASES}
    assert covered == set(CODECS)


@pytest.mark.parametrize("case", CASES)
def test_golden_file_decodes_to_the_recorded_pixels(case):
    data = (GOLDEN / f"{case}.inr").read_bytes()
    expected = MANIFEST["files"][case]
    assert hashlib.sha256(data).hexdigest() == expected["file_sha256"]
    image = inrcodec.decode(data, device="cpu")
    assert hashlib.sha256(image.to_codes().tobytes()).hexdigest() == expected["pixels_sha256"]


@pytest.mark.skipif(platform.machine() != MANIFEST["machine"] or
                    torch.__version__ != MANIFEST["torch"],
                    reason="encoder bytes are pinned for the golden files' torch and CPU")
@pytest.mark.parametrize("case", CASES)
def test_encoding_again_gives_the_same_bytes(case):
    data = _maker().encode_case(case)
    assert hashlib.sha256(data).hexdigest() == MANIFEST["files"][case]["file_sha256"]
