"""Image files through Pillow: 8-bit gray/RGB/RGBA PNG and JPEG, 16-bit PNG and TIFF; NIfTI
volumes are handed to `nifti`."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from ..errors import InputError
from ..image import MAX_PIXELS, Image, from_codes
from .files import atomic_write
from .nifti import is_nifti, read_slice, shifted_codes, write_nifti


def read_image(path: str | os.PathLike, slice: int | None = None) -> Image:
    """Read a PNG/JPEG (or any format Pillow reads) as an `Image` keeping mode and bit depth.

    A NIfTI volume (.nii, .nii.gz) needs `slice`, the axial slice index (see `nifti`).
    """
    p = Path(path)
    if is_nifti(p):
        return read_slice(p, slice)
    if slice is not None:
        raise InputError(f"{p}: --slice applies to NIfTI volumes (.nii, .nii.gz) only")
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not an image")
    try:
        with PILImage.open(p) as im:  # reads the header only; Pillow refuses decompression bombs
            if im.width < 1 or im.height < 1:
                raise InputError(f"{p}: empty image ({im.width}x{im.height})")
            if im.width * im.height > MAX_PIXELS:
                raise InputError(f"{p}: {im.width}x{im.height} is too large (at most "
                                 f"{MAX_PIXELS} pixels)")
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                raise InputError(f"{p}: holds {frames} frames (an animation or a multi-page "
                                 "file); inrcodec encodes a single image")
            im.load()
            return pil_to_image(im, source=str(p))
    except UnidentifiedImageError:
        raise InputError(f"{p}: not an image (format not recognised)") from None
    except PILImage.DecompressionBombError as exc:
        raise InputError(f"{p}: too large ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise InputError(f"{p}: unreadable or damaged image ({exc})") from None
    except MemoryError:
        raise InputError(f"{p}: too large to read into memory") from None


def pil_to_image(im: PILImage.Image, source: str = "") -> Image:
    """Convert a PIL image; 16-bit modes (I;16, I) stay 16-bit, palettes become RGB(A)."""
    if im.width < 1 or im.height < 1:
        raise InputError(f"{source or 'image'}: empty image")
    mode = im.mode
    if mode == "F":  # 32-bit float: no integer codes to keep
        arr = np.asarray(im)
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{source or 'image'}: holds NaN or infinite values")
        raise InputError(f"{source or 'image'}: 32-bit floating-point images are not supported "
                         "(convert to 8- or 16-bit integers; NIfTI volumes keep float "
                         "intensities)")
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


def png_codes(image: Image) -> np.ndarray:
    """[H, W, C] integers as a PNG of the image holds them: the codes, or for a NIfTI slice its
    source values minus the slice minimum (original units, uint16)."""
    if "nifti" in image.meta:
        return shifted_codes(image)[:, :, None]
    return image.to_codes()


def from_png_codes(codes: np.ndarray, like: Image) -> Image:
    """Inverse of `png_codes`: integers in the file's units -> an Image shaped like `like`."""
    a = np.asarray(codes)
    if a.ndim == 2:
        a = a[:, :, None]
    if "nifti" in like.meta:
        a = np.clip(np.round(a.astype(np.float64) / like.scale), 0, like.max_code)
    dtype = np.uint8 if like.bit_depth == 8 else np.uint16
    return like.with_data(from_codes(a.astype(dtype), like.bit_depth))


def image_to_pil(image: Image) -> PILImage.Image:
    codes = image.to_codes()
    if image.bit_depth == 16:
        if image.channels != 1:
            raise InputError("16-bit output is supported for single-channel images only")
        return PILImage.fromarray(np.ascontiguousarray(codes[:, :, 0], dtype=np.uint16))  # I;16
    if image.channels == 1:
        return PILImage.fromarray(np.ascontiguousarray(codes[:, :, 0]))  # L
    return PILImage.fromarray(codes)  # RGB or RGBA from the channel count


def write_image(image: Image, path: str | os.PathLike) -> None:
    """Write PNG (any mode/bit depth), JPEG (8-bit L/RGB) or NIfTI by extension, atomically.

    A NIfTI-sourced slice written as PNG holds 16-bit source values minus the slice minimum.
    """
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
