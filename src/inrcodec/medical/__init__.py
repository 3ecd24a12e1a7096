"""Medical images: a whole-tumour U-Net, Dice, and SINCO's segmentation-aware loss.

    import inrcodec
    from inrcodec.io import read_slice
    from inrcodec.medical import sinco_loss
    image = read_slice("fla.nii.gz", 80)
    loss = sinco_loss("mse", 1.0, mask=seg_slice, per_pixel=True)  # SINCO's lambda = 1
    data = inrcodec.encode(image, codec="pe-mlp", loss=loss)

NIfTI reading and writing live in `inrcodec.io` with the other formats. The loss terms
`sinco` / `sinco_g` and the task metric `dice` reach the core registries through the plugin
entry point (`plugin.py`). Submodules are imported on first use (the CLI stays quick to start).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SincoTerm": "task_loss", "sinco_loss": "task_loss", "dice": "dice", "soft_dice": "dice",
    "UNet": "unet", "UNetConfig": "unet", "load_unet": "unet", "segment": "unet",
    "shipped_unet": "unet", "load_case": "datasets", "Split": "split", "load_split": "split",
    "paper_bpp": "paper",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
