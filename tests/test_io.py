import numpy as np
import pytest
from PIL import Image as PILImage

from inrcodec.errors import InputError
from inrcodec.image import Image
from inrcodec.io import read_image, write_image


@pytest.mark.parametrize("mode,expect", [("RGB", "RGB"), ("L", "L"), ("RGBA", "RGBA"),
                                         ("P", "RGB"), ("LA", "RGBA"), ("1", "L")])
def test_png_modes(tmp_path, mode, expect):
    rng = np.random.default_rng(0)
    src = PILImage.fromarray(rng.integers(0, 255, (6, 9, 3), dtype=np.uint8)).convert(mode)
    p = tmp_path / "a.png"
    src.save(p)
    img = read_image(p)
    assert img.mode == expect and img.bit_depth == 8 and (img.height, img.width) == (6, 9)
    out = tmp_path / "b.png"
    write_image(img, out)
    assert np.array_equal(np.asarray(PILImage.open(out).convert(expect)),
                          np.asarray(src.convert(expect)))


def test_jpeg_in_and_out(tmp_path):
    rng = np.random.default_rng(1)
    p = tmp_path / "a.jpg"
    PILImage.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(p, quality=90)
    img = read_image(p)
    assert img.mode == "RGB"
    write_image(img, tmp_path / "b.jpg")
    with pytest.raises(InputError, match="JPEG"):
        write_image(Image(img.data[:1], 16, "L"), tmp_path / "c.jpg")


def test_16bit_roundtrip_is_exact(tmp_path):
    arr = np.random.default_rng(2).integers(0, 65535, (7, 5), dtype=np.uint16)
    p = tmp_path / "a.png"
    PILImage.fromarray(arr).save(p)
    img = read_image(p)
    assert img.bit_depth == 16 and img.mode == "L"
    assert np.array_equal(img.to_codes()[:, :, 0], arr)
    out = tmp_path / "b.png"
    write_image(img, out)
    assert np.array_equal(np.asarray(PILImage.open(out)).astype(np.uint16), arr)


def test_bad_inputs(tmp_path):
    (tmp_path / "t.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(InputError):
        read_image(tmp_path / "t.png")
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(InputError, match="directory"):
        read_image(tmp_path)
    img = read_image(_tiny(tmp_path))
    with pytest.raises(InputError, match="unsupported output"):
        write_image(img, tmp_path / "x.bmpx")
    with pytest.raises(InputError, match="does not exist"):
        write_image(img, tmp_path / "no" / "x.png")


def _tiny(tmp_path):
    p = tmp_path / "tiny.png"
    PILImage.new("RGB", (3, 2), (10, 20, 30)).save(p)
    return p


def test_written_files_follow_the_umask_and_keep_a_replaced_files_mode(sample, tmp_path):
    import os

    from inrcodec.io import write_bytes

    old = os.umask(0o022)
    try:
        write_bytes(tmp_path / "a.inr", b"x")
        write_image(sample, tmp_path / "a.png")
        assert (tmp_path / "a.inr").stat().st_mode & 0o777 == 0o644
        assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        write_bytes(tmp_path / "b.inr", b"x")
        assert (tmp_path / "b.inr").stat().st_mode & 0o777 == 0o600
        (tmp_path / "a.inr").chmod(0o640)
        write_bytes(tmp_path / "a.inr", b"y")  # replacing keeps the file's own mode
        assert (tmp_path / "a.inr").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_atomic_write_turns_os_errors_into_the_package_error(tmp_path, monkeypatch):
    """A folder that refuses files, or a disk that fills up mid-write: one InputError naming
    the file, no temporary file left, an existing file untouched."""
    import errno
    import tempfile

    from inrcodec.errors import InputError
    from inrcodec.io import atomic_write

    target = tmp_path / "out.csv"
    target.write_text("old")

    def full(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(InputError, match="out.csv: cannot write \\(No space left on device\\)"):
        atomic_write(target, full)
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(InputError, match="Read-only file system"):
        atomic_write(target, lambda tmp: None)
    assert target.read_text() == "old"
