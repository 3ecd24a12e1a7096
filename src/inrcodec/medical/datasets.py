"""The MRI cases on disk: <root>/<case>/{fla,t1,t1c,t2,seg}.nii.gz (BraTS layout, labels 0/1/2/4).

Whole tumour = label > 0. Slices are axial (`vol[:, :, k]`) and become Images through
io/nifti.py, exactly as `inrcodec encode vol.nii.gz --slice k` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..image import Image
from ..io.nifti import load_volume, slice_image

MODALITIES = ("fla", "t1", "t1c", "t2")
DEFAULT_ROOT = Path("../shared/data/mri")


@dataclass
class Case:
    name: str
    modality: str
    volume: np.ndarray  # [X, Y, Z] source dtype
    affine: np.ndarray
    dtype: np.dtype
    tumour: np.ndarray  # [X, Y, Z] bool (label > 0)
    source: str

    def image(self, k: int) -> Image:
        return slice_image(self.volume[:, :, k], affine=self.affine, dtype=self.dtype, index=k,
                           shape=self.volume.shape, source=f"{self.source}[:, :, {k}]")

    def mask(self, k: int) -> np.ndarray:
        return self.tumour[:, :, k]

    def brain_slices(self, min_fraction: float = 0.01) -> list[int]:
        """Slices where more than `min_fraction` of the pixels are non-zero (brain)."""
        nz = (self.volume != 0).mean(axis=(0, 1))
        return [int(k) for k in np.flatnonzero(nz > min_fraction)]

    def tumour_slices(self) -> list[int]:
        return [int(k) for k in np.flatnonzero(self.tumour.any(axis=(0, 1)))]

    def largest_tumour_slices(self, n: int) -> list[int]:
        """The n slices with the largest tumour area, in slice order."""
        area = self.tumour.sum(axis=(0, 1))
        order = np.argsort(-area, kind="stable")[:n]
        return sorted(int(k) for k in order if area[k] > 0)


def load_case(root: str | Path, name: str, modality: str = "fla") -> Case:
    if modality not in MODALITIES:
        raise InputError(f"unknown modality {modality!r} (choose from {', '.join(MODALITIES)})")
    folder = Path(root) / name
    if not folder.is_dir():
        raise InputError(f"{folder}: no such case folder")
    vol, affine, dtype = load_volume(folder / f"{modality}.nii.gz")
    seg, _, _ = load_volume(folder / "seg.nii.gz")
    if seg.shape != vol.shape:
        raise InputError(f"{folder}: seg {seg.shape} and {modality} {vol.shape} differ in shape")
    return Case(name, modality, vol, affine, dtype, seg > 0, str(folder / f"{modality}.nii.gz"))
