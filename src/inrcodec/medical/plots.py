"""A Fig. 3-like panel of SINCO: each decoded image with the ground-truth (green) and the
U-Net's (red) tumour outlines, the whole slice above and the tumour's neighbourhood below."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..image import Image
from ..io import write_bytes


def overlay_figure(original: Image, labels: np.ndarray,
                   panels: list[tuple[dict[str, Any], Image]], output: Path) -> Path:
    """`panels`: (result row, decoded image) per method; the original comes first."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .dice import dice
    from .unet import segment

    gt = np.asarray(labels, dtype=bool)
    tiles = [("original", None, original)] + [(r["curve"].split("|")[0] if r["kind"] == "inr"
                                               else r["curve"], r, im) for r, im in panels]
    fig, axes = plt.subplots(2, len(tiles), figsize=(2.6 * len(tiles), 5.6), squeeze=False)
    if gt.any():  # the zoom row: the tumour's bounding box with a margin
        ys, xs = np.nonzero(gt)
        pad = 12
        box = (max(ys.min() - pad, 0), min(ys.max() + pad + 1, gt.shape[0]),
               max(xs.min() - pad, 0), min(xs.max() + pad + 1, gt.shape[1]))
    else:
        box = (0, gt.shape[0], 0, gt.shape[1])
    for ax, zoom, (name, row, image) in zip(axes[0], axes[1], tiles, strict=True):
        x = image.data.mean(0).numpy().astype(np.float64)
        pred = segment(image.data)[0]
        for a, (y0, y1, x0, x1) in ((ax, (0, gt.shape[0], 0, gt.shape[1])), (zoom, box)):
            a.imshow(x[y0:y1, x0:x1].T, cmap="gray", origin="lower", vmin=0, vmax=1)
            if gt[y0:y1, x0:x1].any():
                a.contour(gt[y0:y1, x0:x1].T, levels=[0.5], colors="lime", linewidths=0.8,
                          origin="lower")
            if pred[y0:y1, x0:x1].any():
                a.contour(pred[y0:y1, x0:x1].T, levels=[0.5], colors="red", linewidths=0.8,
                          origin="lower")
            a.axis("off")
        sub = f"Dice {dice(pred, gt):.3f}"
        if row is not None:
            loss = "" if row["kind"] != "inr" else "\n" + row["loss"][:28]
            sub = f"{row['psnr']:.2f} dB, {row['bpp']:.2f} bpp{loss}\n" + sub
            task = json.loads(row.get("task_metrics_json") or "{}")
            if "dice" in task and abs(task["dice"] - dice(pred, gt)) > 1e-9:
                sub += f" (stored {task['dice']:.3f})"
        ax.set_title(f"{name}\n{sub}", fontsize=7)
    fig.suptitle("ground truth (green), U-Net on the decoded image (red)", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    plt.close(fig)
    write_bytes(output, buf.getvalue())
    return Path(output)
