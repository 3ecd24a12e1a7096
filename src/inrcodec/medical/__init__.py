"""Medical images: NIfTI slices, a whole-tumour U-Net and SINCO's segmentation-aware loss.

    import inrcodec
    from inrcodec.medical import read_slice, sinco_loss
    image = read_slice("fla.nii.gz", 80)
    loss = sinco_loss("mse", 1.0, mask=seg_slice, per_pixel=True)  # SINCO's lambda = 1
    data = inrcodec.encode(image, codec="pe-mlp", loss=loss)

Submodules are imported on first use (the CLI stays quick to start).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "read_slice": "nifti", "write_nifti": "nifti", "slice_image": "nifti",
    "SincoTerm": "task_loss", "sinco_loss": "task_loss", "loss_with_mask": "task_loss",
    "UNet": "unet", "load_unet": "unet", "segment": "unet", "shipped_unet": "unet",
    "load_case": "datasets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
