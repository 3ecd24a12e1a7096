"""NIfTI volumes <-> 2-D `Image` slices that keep the intensity units, affine and dtype.

A slice is read along the last (axial) axis: `vol[:, :, k]`, an [X, Y] array shown as [H, W].
Its integer intensities (int16 in BraTS, negative values allowed) are mapped onto the full
16-bit range so that the networks see values spread over [0, 1]:

    code  = round((value - vmin) * 65535 / (vmax - vmin))      vmin, vmax: the slice's range
    value = offset + scale * code,  offset = vmin, scale = (vmax - vmin) / 65535

offset/scale travel in the .inr header (ImageInfo), so decoding restores the source units; for
an integer dtype the round trip of the original slice is exact (scale < 1). The affine, dtype,
slice index and volume shape travel in `meta["nifti"]` (the header's `extra`).

Writing gives a one-slice 3-D volume [X, Y, 1] in the original dtype whose affine places the
slice where it was in the source volume (affine @ translation by k along the slice axis).
"""

from __future__ import annotations

import gzip
import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..image import MAX_PIXELS, Image
from .files import atomic_write

NIFTI_SUFFIXES = (".nii", ".nii.gz")
CODE_MAX = 65535
MAX_VOXELS = 1 << 28  # a volume is read whole (as float64 when scaled: at most 2 GiB)


def is_nifti(path: str | os.PathLike) -> bool:
    name = str(path).lower()
    return name.endswith(NIFTI_SUFFIXES)


def load_volume(path: str | os.PathLike, data: bytes | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    """-> (3-D array in its stored dtype, 4x4 affine, dtype). InputError on anything odd.

    `data`: the file's bytes, when they are already in memory (a benchmark worker gets them
    from the driver); `path` then only names the file and picks gzip from its suffix."""
    import nibabel as nib

    p = Path(path)
    if not is_nifti(p):
        raise InputError(f"{p}: not a NIfTI file (expected .nii or .nii.gz)")
    if data is None:
        if not p.exists():
            raise InputError(f"{p}: no such file")
        if p.is_dir():
            raise InputError(f"{p}: is a directory, not a NIfTI volume")
    try:
        if data is None:
            img = nib.load(str(p))
        else:
            raw = gzip.decompress(data) if str(p).lower().endswith(".gz") else data
            img = nib.Nifti1Image.from_bytes(raw)
        dtype = np.dtype(img.get_data_dtype())
        shape = tuple(int(n) for n in img.shape)
    except Exception as exc:  # nibabel raises many types for damaged files
        raise InputError(f"{p}: unreadable, damaged or truncated NIfTI "
                         f"({type(exc).__name__}: {exc})") from None
    # everything the header says is checked before the voxels are read
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise InputError(f"{p}: expected a 3-D volume, got shape {shape}")
    if min(shape) < 1:
        raise InputError(f"{p}: empty volume (shape {shape})")
    if dtype.kind not in "iuf" or dtype.itemsize > 8:
        raise InputError(f"{p}: unsupported voxel type {dtype}")
    if shape[0] * shape[1] > MAX_PIXELS or math.prod(shape) > MAX_VOXELS:
        raise InputError(f"{p}: volume {'x'.join(map(str, shape))} is too large (at most "
                         f"{MAX_PIXELS} pixels a slice, {MAX_VOXELS} voxels)")
    try:
        arr = np.asarray(img.dataobj)
    except MemoryError:
        raise InputError(f"{p}: too large to read into memory") from None
    except Exception as exc:  # a cut file: nibabel and gzip raise many types
        raise InputError(f"{p}: unreadable or truncated NIfTI ({type(exc).__name__}: "
                         f"{exc})") from None
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise InputError(f"{p}: expected a 3-D volume, got shape {arr.shape}")
    if arr.dtype != dtype:  # scaled data (scl_slope): keep what nibabel gives
        dtype = arr.dtype
    if dtype.kind not in "iuf":
        raise InputError(f"{p}: unsupported voxel type {dtype}")
    return arr, np.asarray(img.affine, dtype=np.float64), dtype


def slice_image(arr2d: np.ndarray, *, affine: np.ndarray | None = None,
                dtype: np.dtype | str | None = None, index: int = 0,
                shape: tuple[int, ...] | None = None, source: str = "") -> Image:
    """A 2-D slice of source values -> 16-bit gray Image with offset/scale and NIfTI meta."""
    a = np.asarray(arr2d, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        raise InputError(f"{source or 'slice'}: expected a 2-D slice, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{source or 'slice'}: slice holds NaN or infinite values")
    dtype = np.dtype(dtype if dtype is not None else arr2d.dtype)
    vmin, vmax = float(a.min()), float(a.max())
    scale = (vmax - vmin) / CODE_MAX if vmax > vmin else 1.0
    codes = np.clip(np.round((a - vmin) / scale), 0, CODE_MAX)
    data = torch.from_numpy((codes / CODE_MAX).astype(np.float32))[None]
    meta = {"source": source, "nifti": {
        "affine": (np.eye(4) if affine is None else np.asarray(affine)).tolist(),
        "dtype": dtype.str, "slice": int(index), "axis": 2,
        "shape": list(shape) if shape is not None else [a.shape[0], a.shape[1], 1]}}
    return Image(data, 16, "L", vmin, scale, meta)


def _slice_index(path: str | os.PathLike, arr: np.ndarray, index: int | None) -> int:
    n = arr.shape[2]
    if index is None:
        raise InputError(f"{path}: a NIfTI volume needs a slice index (--slice 0..{n - 1})")
    if not 0 <= int(index) < n:
        raise InputError(f"{path}: slice {index} out of range (volume has {n} slices, 0..{n - 1})")
    return int(index)


def read_slice(path: str | os.PathLike, index: int | None, data: bytes | None = None) -> Image:
    """Axial slice `index` of a NIfTI volume as an Image (see the module docstring)."""
    arr, affine, dtype = load_volume(path, data)
    k = _slice_index(path, arr, index)
    return slice_image(arr[:, :, k], affine=affine, dtype=dtype, index=k, shape=arr.shape,
                       source=str(path))


def read_labels(path: str | os.PathLike, index: int | None, data: bytes | None = None,
                shape: tuple[int, int] | None = None) -> np.ndarray:
    """[H, W] bool mask (label > 0) of axial slice `index` of a label volume; `shape`, when
    given, must match (the image the labels belong to)."""
    arr, _, _ = load_volume(path, data)
    k = _slice_index(path, arr, 0 if index is None else index)
    mask = arr[:, :, k] > 0
    if shape is not None and mask.shape != tuple(shape):
        raise InputError(f"{path}: label slice shape {mask.shape} differs from the image "
                         f"{tuple(shape)}")
    return mask


def largest_label_slices(path: str | os.PathLike, n: int) -> list[int]:
    """The n axial slices with the largest labelled area (label > 0), in slice order."""
    arr, _, _ = load_volume(path)
    area = (arr > 0).sum(axis=(0, 1))
    order = np.argsort(-area, kind="stable")[:n]
    return sorted(int(k) for k in order if area[k] > 0)


def values_of(image: Image) -> np.ndarray:
    """[H, W] source-unit values; rounded and clipped to the original dtype when it is integer."""
    v = image.to_values()[:, :, 0]
    info = image.meta.get("nifti", {})
    dtype = np.dtype(info.get("dtype", "<f8"))
    if dtype.kind in "iu":
        lim = np.iinfo(dtype)
        return np.clip(np.round(v), lim.min, lim.max).astype(dtype)
    return v.astype(dtype)


def slice_affine(affine: np.ndarray, index: int, axis: int = 2) -> np.ndarray:
    shift = np.eye(4)
    shift[axis, 3] = index
    return np.asarray(affine, dtype=np.float64) @ shift


def write_nifti(image: Image, path: str | os.PathLike) -> None:
    """Write a gray Image as a one-slice 3-D NIfTI [H, W, 1] (original affine and dtype)."""
    import nibabel as nib

    if image.channels != 1:
        raise InputError(f"{path}: NIfTI output needs a single-channel image")
    info = image.meta.get("nifti")
    if info is None:  # an ordinary image: its integer codes, identity affine
        info = {"affine": np.eye(4).tolist(), "slice": 0, "axis": 2,
                "dtype": "|u1" if image.bit_depth == 8 else "<u2"}
    try:
        affine = np.asarray(info["affine"], dtype=np.float64).reshape(4, 4)
        vol = values_of(replace(image, meta={**image.meta, "nifti": info}))[:, :, None]
        aff = slice_affine(affine, int(info.get("slice", 0)), int(info.get("axis", 2)))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: bad NIfTI metadata in the image ({exc})") from None
    nii = nib.Nifti1Image(vol, aff)
    nii.set_data_dtype(vol.dtype)
    ext = ".nii.gz" if str(path).lower().endswith(".gz") else ".nii"
    atomic_write(path, lambda tmp: _save(nii, tmp, ext))


def _save(nii, tmp: str, ext: str) -> None:
    import nibabel as nib

    target = tmp + ext  # nibabel picks compression from the name
    nib.save(nii, target)
    os.replace(target, tmp)


def shifted_codes(image: Image) -> np.ndarray:
    """[H, W] uint16: source values minus the slice minimum (offset) for 16-bit PNG output."""
    v = image.to_values()[:, :, 0] - image.offset
    return np.clip(np.round(v), 0, CODE_MAX).astype(np.uint16)
