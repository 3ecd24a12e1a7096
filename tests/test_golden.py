"""Golden files: every codec's committed .inr decodes to the same pixels, and encoding again
with the same seed gives the same bytes where the files were written (same torch, same CPU
architecture). Rewrite them with scripts/make_golden.py only for an intended format change."""

from __future__ import annotations

import hashlib
import json
import platform

import pytest
import torch

import inrcodec
from conftest import ROOT, load_script
from inrcodec.coding.container import repack

GOLDEN = ROOT / "tests" / "golden"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
CASES = sorted(MANIFEST["files"])


def _maker():
    return load_script(ROOT / "scripts" / "make_golden.py")


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
    # the golden files are format version 1 (kept, so that old files stay readable); the
    # encoder writes version 2: the same container, repacked
    data = _maker().encode_case(case)
    golden = (GOLDEN / f"{case}.inr").read_bytes()
    assert data[4] == 2 and data == repack(golden)


def test_decoding_imports_neither_symbolic_shapes_nor_dynamo():
    """A first decode pays no torch compiler import (sympy ~0.4 s, dynamo 1-3 s): the cost
    checks build models on the meta device, where tensors made or repeated from data, linspace
    and `to_empty` would pull them in."""
    import subprocess
    import sys

    code = (
        "import sys, inrcodec\n"
        "from pathlib import Path\n"
        f"for f in sorted(Path({str(GOLDEN)!r}).glob('*.inr')):\n"
        "    inrcodec.decode(f.read_bytes(), device='cpu')\n"
        "    heavy = [m for m in ('sympy', 'torch._dynamo') if m in sys.modules]\n"
        "    if heavy:\n"
        "        sys.exit(f'{f.name}: {heavy}')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
