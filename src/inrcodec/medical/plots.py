"""Figures of the SINCO study: Dice / PSNR against bpp, and a Fig. 3-like overlay panel."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def rate_plots(summary: list[dict], out: Path) -> None:
    """dice_vs_bpp.png and psnr_vs_bpp.png: classical codecs as curves (mean over slices at
    each target rate), INR methods as points at their real file bpp."""
    plt = _plt()
    for metric, fname, ylabel in (("dice", "dice_vs_bpp.png", "Dice of g(decoded) vs GT"),
                                  ("psnr", "psnr_vs_bpp.png", "PSNR (dB, peak = slice range)")):
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        curves: dict[str, list[tuple[float, float]]] = {}
        for s in summary:
            if s["group"] == "classical" and s["bpp"] is not None and s[metric] is not None:
                curves.setdefault(s["codec"], []).append((s["bpp"], s[metric]))
        for codec, pts in curves.items():
            pts.sort()
            ax.plot(*zip(*pts, strict=True), "o-", label=codec, ms=4)
        markers = iter("s^vD<>pPX*hH" * 3)
        for s in summary:
            if s["group"] in ("table", "sweep", "extra", "rate") and s["bpp"] is not None and \
                    s[metric] is not None:
                ax.plot(s["bpp"], s[metric], next(markers), label=s["method"], ms=7)
            if s["group"] == "reference" and metric == "dice" and s["dice"] is not None:
                ax.axhline(s["dice"], color="gray", ls="--", lw=1, label="original image")
        ax.set_xlabel("bpp (real file)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(out / fname, dpi=120)
        plt.close(fig)


def fig3(rows: list[dict], out: Path, k: int, methods: list[str] | None = None,
         net=None) -> Path | None:
    """Image + ground-truth (green) and predicted (red) tumour outlines, per method.

    Default methods: the original, Table 1's methods, and each classical codec at its lowest
    target rate (where segmentation is most at stake)."""
    import torch

    from .unet import segment

    recon = out / "recon"
    gt_path = recon / f"gt_{k}.npy"
    if not gt_path.exists():
        return None
    gt = np.load(gt_path)
    by = {r["method"]: r for r in rows if r["slice"] == k}
    if methods is None:
        methods = [m for m, r in by.items() if r.get("group") in ("reference", "table", "extra")]
        lowest: dict[str, tuple[float, str]] = {}
        for m, r in by.items():
            if r.get("group") == "classical":
                t = (r.get("target_bpp", 0.0), m)
                lowest[r["codec"]] = min(lowest.get(r["codec"], t), t)
        methods += [m for _, m in lowest.values()]
    names = [m for m in methods if (recon / f"{_fname(m)}_{k}.npy").exists()]
    names = [m for m in names if m in by]
    orig = np.load(recon / f"Original_{k}.npy").astype(np.float64)
    lo, rng = orig.min(), (orig.max() - orig.min()) or 1.0
    plt = _plt()
    cols = len(names)
    fig, axes = plt.subplots(2, cols, figsize=(2.6 * cols, 5.6), squeeze=False)
    if gt.any():  # the zoom row: the tumour's bounding box with a margin
        ys, xs = np.nonzero(gt)
        pad = 12
        box = (max(ys.min() - pad, 0), min(ys.max() + pad + 1, gt.shape[0]),
               max(xs.min() - pad, 0), min(xs.max() + pad + 1, gt.shape[1]))
    else:
        box = (0, gt.shape[0], 0, gt.shape[1])
    for ax, zoom, m in zip(axes[0], axes[1], names, strict=True):
        v = np.load(recon / f"{_fname(m)}_{k}.npy").astype(np.float64)
        x = np.clip((v - lo) / rng, 0, 1)
        pred = segment(torch.from_numpy(x).float()[None], net)[0]
        for a, (y0, y1, x0, x1) in ((ax, (0, gt.shape[0], 0, gt.shape[1])), (zoom, box)):
            a.imshow(x[y0:y1, x0:x1].T, cmap="gray", origin="lower", vmin=0, vmax=1)
            a.contour(gt[y0:y1, x0:x1].T, levels=[0.5], colors="lime", linewidths=0.8,
                      origin="lower")
            if pred[y0:y1, x0:x1].any():
                a.contour(pred[y0:y1, x0:x1].T, levels=[0.5], colors="red", linewidths=0.8,
                          origin="lower")
            a.axis("off")
        r = by[m]
        sub = f"Dice {r['dice']:.3f}"
        if m != "Original":
            sub = f"{r['psnr']:.2f} dB, {r['bpp']:.2f} bpp\n" + sub
        ax.set_title(f"{m}\n{sub}", fontsize=7)
        ax.axis("off")
    fig.suptitle(f"slice {k}: ground truth (green), U-Net on the decoded image (red)", fontsize=8)
    fig.tight_layout()
    path = out / "fig3_overlays.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _fname(method: str) -> str:
    return method.replace(" ", "_").replace("(", "").replace(")", "")
