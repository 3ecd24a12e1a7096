"""The CLI as a user runs it: real subprocesses, exit codes, no tracebacks, atomic outputs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image as PILImage

from conftest import SAMPLE


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "inrcodec.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ, COLUMNS="120"))


@pytest.fixture(scope="module")
def png(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    p = d / "in.png"
    PILImage.open(SAMPLE).crop((90, 30, 114, 50)).save(p)
    return p


def test_encode_info_decode_eval(png, tmp_path):
    inr, out = tmp_path / "a.inr", tmp_path / "a.png"
    r = run("encode", png, "-o", inr, "-c", "siren", "--steps", "40", "--set", "layers=2",
            "--set",
            "width=12", "--json", "--no-lpips")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["bytes"] == inr.stat().st_size
    assert summary["settings"]["layers"] == 2 and summary["seed"] == 0
    assert "torch" in summary["versions"]
    r = run("info", inr, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["codec"] == "siren"
    assert json.loads(r.stdout)["format_version"] == 2
    r = run("decode", inr, "-o", out)
    assert r.returncode == 0, r.stderr
    assert PILImage.open(out).size == (24, 20)
    r = run("eval", png, out, "--json", "--no-lpips")
    assert r.returncode == 0
    assert json.loads(r.stdout)["psnr"] == pytest.approx(summary["metrics"]["psnr"], abs=1e-6)


def test_progress_bar_and_summary_are_shown(png, tmp_path):
    r = run("encode", png, "-o", tmp_path / "b.inr", "-c", "siren", "--steps", "20",
            "--set", "layers=2",
            "--no-lpips")
    assert r.returncode == 0
    assert "fit" in r.stderr and "PSNR" in r.stdout and "bpp" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["encode", "/nonexistent.png", "-o", "{tmp}/x.inr"], "no such file"),
    (["encode", "{notimg}", "-o", "{tmp}/x.inr"], "not an image"),
    (["encode", "{png}", "-o", "{tmp}/x.inr", "--codec", "nope"], "unknown codec"),
    (["encode", "{png}", "-o", "{tmp}/x.inr", "--loss", "0.5*"], "loss"),
    (["encode", "{png}", "-o", "{tmp}/x.inr", "--set", "bogus=1"], "no setting"),
    (["encode", "{png}", "-o", "{tmp}/nodir/x.inr", "--steps", "2"], "does not exist"),
    (["decode", "{notimg}", "-o", "{tmp}/x.png"], "magic"),
    (["decode", "{tmp}/missing.inr", "-o", "{tmp}/x.png"], "no such file"),
    (["info", "{notimg}"], "magic"),
    (["eval", "{png}", "{notimg}"], "not an image"),
])
def test_bad_input_exits_2_without_traceback(png, tmp_path, args, needle):
    notimg = tmp_path / "notimg.png"
    notimg.write_text("hello")
    args = [a.format(tmp=tmp_path, png=png, notimg=notimg) for a in args]
    r = run(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.inr").exists() and not (tmp_path / "x.png").exists()


def test_corrupt_file_leaves_existing_output_untouched(png, tmp_path):
    inr, out = tmp_path / "c.inr", tmp_path / "c.png"
    assert run("encode", png, "-o", inr, "-c", "siren", "--steps", "5", "--set", "layers=2",
               "-q").returncode == 0
    out.write_bytes(b"precious")
    data = bytearray(inr.read_bytes())
    data[len(data) // 2] ^= 0xFF
    inr.write_bytes(bytes(data))
    r = run("decode", inr, "-o", out)
    assert r.returncode == 2 and "corrupt" in r.stderr
    assert out.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_16bit_png_keeps_depth(tmp_path):
    arr = (np.arange(20 * 16).reshape(20, 16) * 150).astype(np.uint16)
    src = tmp_path / "g16.png"
    PILImage.fromarray(arr).save(src)
    inr, out = tmp_path / "g16.inr", tmp_path / "g16_out.png"
    assert run("encode", src, "-o", inr, "-c", "siren", "--steps", "30", "-q").returncode == 0
    assert run("decode", inr, "-o", out).returncode == 0
    back = np.asarray(PILImage.open(out))
    assert back.dtype in (np.uint16, np.int32) and back.shape == (20, 16)
    assert back.max() > 255
