"""Reading and writing images: 8-bit gray/RGB/RGBA PNG and JPEG, 16-bit PNG.

Writes are atomic (temporary file in the same folder, then rename) so that a failure never
leaves a partial output file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from .errors import InputError
from .image import Image, from_codes

# Refuse absurd inputs before decoding them (PIL's own bomb check is a warning up to 2x this).
MAX_PIXELS = 1 << 28


def read_image(path: str | os.PathLike, slice: int | None = None) -> Image:
    """Read a PNG/JPEG (or any format Pillow reads) as an `Image` keeping mode and bit depth.

    A NIfTI volume (.nii, .nii.gz) needs `slice`, the axial slice index (medical/nifti.py).
    """
    p = Path(path)
    from .medical.nifti import is_nifti, read_slice

    if is_nifti(p):
        return read_slice(p, slice)
    if slice is not None:
        raise InputError(f"{p}: --slice applies to NIfTI volumes (.nii, .nii.gz) only")
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not an image")
    try:
        with PILImage.open(p) as im:
            if im.width * im.height > MAX_PIXELS:
                raise InputError(f"{p}: {im.width}x{im.height} is too large")
            im.load()
            return pil_to_image(im, source=str(p))
    except UnidentifiedImageError:
        raise InputError(f"{p}: not an image (format not recognised)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{p}: unreadable or damaged image ({exc})") from None
    except PILImage.DecompressionBombError as exc:
        raise InputError(f"{p}: {exc}") from None


def pil_to_image(im: PILImage.Image, source: str = "") -> Image:
    """Convert a PIL image; 16-bit modes (I;16, I) stay 16-bit, palettes become RGB(A)."""
    if im.width < 1 or im.height < 1:
        raise InputError(f"{source or 'image'}: empty image")
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im)
        if mode == "I" and (arr.min() < 0 or arr.max() > 65535):
            raise InputError(f"{source}: 32-bit integer image outside the 16-bit range")
        return Image(from_codes(arr.astype(np.uint16), 16), 16, "L", meta={"source": source})
    if mode == "1":
        im = im.convert("L")
    elif mode in ("P", "PA"):
        im = im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
    elif mode == "LA":
        im = im.convert("RGBA")
    elif mode not in ("L", "RGB", "RGBA"):
        im = im.convert("RGB")
    arr = np.asarray(im)
    return Image(from_codes(arr, 8), 8, im.mode, meta={"source": source})


def image_to_pil(image: Image) -> PILImage.Image:
    codes = image.to_codes()
    if image.bit_depth == 16:
        if image.channels != 1:
            raise InputError("16-bit output is supported for single-channel images only")
        return PILImage.fromarray(np.ascontiguousarray(codes[:, :, 0], dtype=np.uint16))  # I;16
    if image.channels == 1:
        return PILImage.fromarray(np.ascontiguousarray(codes[:, :, 0]))  # L
    return PILImage.fromarray(codes)  # RGB or RGBA from the channel count


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early (before any training) if `path` cannot be written."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{parent}: output folder does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{parent}: output folder is not writable")
    return p


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) and rename onto `path`; the temp file is removed on any failure."""
    p = check_output_path(path)
    parent = p.parent if str(p.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    def _w(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, _w)


def write_image(image: Image, path: str | os.PathLike) -> None:
    """Write PNG (any mode/bit depth), JPEG (8-bit L/RGB) or NIfTI by extension, atomically.

    A NIfTI-sourced slice written as PNG holds 16-bit source values minus the slice minimum.
    """
    from .medical.nifti import is_nifti, shifted_codes, write_nifti

    p = Path(path)
    if is_nifti(p):
        write_nifti(image, p)
        return
    ext = p.suffix.lower()
    formats = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}
    if ext not in formats:
        raise InputError(f"{p}: unsupported output format {ext!r} "
                         "(use .png, .jpg, .tif, .nii or .nii.gz)")
    fmt = formats[ext]
    if fmt == "JPEG" and (image.bit_depth != 8 or image.mode == "RGBA"):
        raise InputError(f"{p}: JPEG cannot hold a {image.bit_depth}-bit {image.mode} image")
    if "nifti" in image.meta and fmt in ("PNG", "TIFF"):
        pil = PILImage.fromarray(np.ascontiguousarray(shifted_codes(image)))
    else:
        pil = image_to_pil(image)
    kwargs = {"quality": 95} if fmt == "JPEG" else {}
    atomic_write(p, lambda tmp: pil.save(tmp, format=fmt, **kwargs))
