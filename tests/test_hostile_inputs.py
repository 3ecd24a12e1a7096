"""The encoder's inputs, hostile: images and NIfTI volumes that are huge, zero-sized, 4-D, of an
unknown dtype, with NaN or infinite intensities, or truncated. Each gets a one-line error and
exit code 2 from `inrcodec encode`, and no output file (nor a temporary one) is left behind."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
import zlib

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from typer.testing import CliRunner

import inrcodec
from inrcodec.cli.main import app
from inrcodec.errors import InputError
from inrcodec.image import Image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, colour: int = 2) -> bytes:
    """A PNG whose header claims width x height (its pixel data is a few bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\0" * 16)) + _png_chunk(b"IEND", b""))


def _nii(path, arr, dtype=None):
    img = nib.Nifti1Image(arr if dtype is None else arr.astype(dtype), np.eye(4))
    nib.save(img, str(path))
    return path


def _make(kind: str, d):
    """-> (path, slice or None, expected words in the message)."""
    if kind == "huge-png":
        p = d / "huge.png"
        p.write_bytes(_png(100_000, 100_000))
        return p, None, "too large"
    if kind == "huge-png-grey":
        p = d / "huge2.png"  # 270M pixels: past 2^28 (and Pillow's bomb limit)
        p.write_bytes(_png(18_000, 15_000, colour=0))
        return p, None, "too large"
    if kind == "zero-png":
        p = d / "zero.png"
        p.write_bytes(_png(0, 10))
        return p, None, "not an image"
    if kind == "animated-gif":
        p = d / "anim.gif"
        frames = [PILImage.new("L", (8, 8), 40 * i) for i in range(3)]
        frames[0].save(p, save_all=True, append_images=frames[1:])
        return p, None, "3 frames"
    if kind == "float-tiff-nan":
        p = d / "nan.tif"
        a = np.ones((8, 8), np.float32)
        a[2, 3] = np.nan
        PILImage.fromarray(a, mode="F").save(p)
        return p, None, "NaN or infinite"
    if kind == "float-tiff":
        p = d / "float.tif"
        PILImage.fromarray(np.full((8, 8), 0.5, np.float32), mode="F").save(p)
        return p, None, "floating-point"
    if kind == "truncated-png":
        p = d / "cut.png"
        PILImage.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
                           ).save(d / "full.png")
        full = (d / "full.png").read_bytes()
        p.write_bytes(full[:len(full) // 2])
        return p, None, "truncated"
    if kind == "nifti-4d":
        return _nii(d / "v4.nii.gz", np.zeros((8, 8, 3, 2), np.int16)), 0, "3-D volume"
    if kind == "nifti-complex":
        return _nii(d / "c.nii.gz", np.zeros((8, 8, 3), np.complex64)), 0, "voxel type"
    if kind == "nifti-nan":
        v = np.ones((8, 8, 3), np.float32)
        v[1, 1, 0] = np.nan
        return _nii(d / "nan.nii.gz", v), 0, "NaN or infinite"
    if kind == "nifti-inf":
        v = np.ones((8, 8, 3), np.float32)
        v[4, 2, 1] = -np.inf
        return _nii(d / "inf.nii.gz", v), 1, "NaN or infinite"
    if kind == "nifti-zero":
        return _nii(d / "z.nii", np.zeros((0, 8, 3), np.int16)), 0, "empty volume"
    if kind == "nifti-truncated":
        full = _nii(d / "full.nii", np.arange(8 * 8 * 3, dtype=np.int16).reshape(8, 8, 3))
        p = d / "cut.nii"
        p.write_bytes(full.read_bytes()[:-100])
        return p, 0, "truncated"
    if kind == "nifti-gz-truncated":
        full = _nii(d / "full.nii", np.arange(8 * 8 * 3, dtype=np.int16).reshape(8, 8, 3))
        p = d / "cut.nii.gz"
        data = gzip.compress(full.read_bytes())
        p.write_bytes(data[:len(data) // 2])
        return p, 0, "truncated"
    if kind == "nifti-huge":
        small = _nii(d / "s.nii", np.zeros((2, 2, 2), np.int16))
        header = nib.Nifti1Header.from_fileobj(open(small, "rb"))
        header.set_data_shape((20_000, 20_000, 2_000))
        p = d / "huge.nii"
        p.write_bytes(header.binaryblock + b"\0" * 1004)  # the header alone claims 1.6 TB
        return p, 0, "too large"
    raise ValueError(kind)


KINDS = ["huge-png", "huge-png-grey", "zero-png", "animated-gif",
         "float-tiff-nan", "float-tiff", "truncated-png", "nifti-4d", "nifti-complex",
         "nifti-nan", "nifti-inf", "nifti-zero", "nifti-truncated", "nifti-gz-truncated",
         "nifti-huge"]


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_input_gets_one_line_exit_2_and_no_output(kind, tmp_path):
    src, slice_, needle = _make(kind, tmp_path)
    out = tmp_path / "out" / "x.inr"
    out.parent.mkdir()
    args = ["encode", str(src), "-o", str(out), "--steps", "2", "-q", "--no-lpips"]
    if slice_ is not None:
        args += ["--slice", str(slice_)]
    r = CliRunner().invoke(app, args, env={"COLUMNS": "60"})
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert needle in lines[0], lines[0]
    assert "Traceback" not in r.output
    assert list(out.parent.iterdir()) == []  # no output, no temporary file


def test_hostile_input_through_the_real_command_line(tmp_path):
    """The same through a subprocess: exit code 2, no traceback, no output."""
    src, slice_, _ = _make("nifti-truncated", tmp_path)
    out = tmp_path / "x.inr"
    r = subprocess.run([sys.executable, "-m", "inrcodec.cli", "encode", src, "--slice", "0",
                        "-o", out, "--steps", "2", "-q"], capture_output=True, text=True,
                       env=dict(os.environ, COLUMNS="40"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "truncated" in r.stderr
    assert not out.exists()


def test_api_refuses_images_with_nan_or_no_pixels():
    nan = torch.full((3, 4, 4), 0.5)
    nan[0, 1, 1] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        inrcodec.encode(Image(nan, 8, "RGB"), steps=1, metrics=False)
    with pytest.raises(InputError, match="empty image"):
        Image(torch.zeros(3, 0, 4), 8, "RGB")
