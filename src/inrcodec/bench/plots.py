"""Rate-distortion figures (matplotlib, Agg): one figure per INR architecture with PSNR,
MS-SSIM (dB) and LPIPS against bpp, one solid curve per loss, the baselines dashed (the layout
of Fig. 2 of the seed paper). The axes zoom on the architecture's bpp range so the losses can
be told apart; baselines run across it.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .curves import HIGHER_IS_BETTER, METRIC_LABELS, METRICS, Curve, baselines  # noqa: E402

# the same loss keeps its colour in every figure
LOSS_COLORS = {"mse": "#1f77b4", "rmse": "#0b3c5d", "l1": "#d62728", "logcosh": "#2ca02c",
               "lcssim": "#9467bd", "l1ssim": "#ff7f0e", "ssim": "#17becf", "msssim": "#e377c2",
               # each codec's reference version of a composite takes the composite's colour
               "cc_lcssim": "#9467bd", "cc_l1ssim": "#ff7f0e", "nif_l1ssim": "#ff7f0e"}
OTHER_COLORS = ["#8c564b", "#bcbd22", "#7f7f7f", "#000000", "#aec7e8", "#98df8a"]
BASELINE_STYLES = {"jpeg/444": "#7f7f7f", "jpeg/420": "#bcbd22", "webp": "#17becf",
                   "avif": "#e377c2", "avif/420": "#f7b6d2", "jpegxl": "#8c564b",
                   "jpeg2000": "#2ca02c"}


LOG_METRICS = {"lpips"}  # drawn on a log axis when every value is positive


def _positive(curves: list[Curve], metric: str) -> bool:
    return all(y > 0 for c in curves for y in c.series(metric)[1])


def _limits(curves: list[Curve], metric: str, x_range: tuple[float, float] | None,
            log: bool = False):
    xs, ys = [], []
    for c in curves:
        for x, y in zip(*c.series(metric), strict=True):
            if x_range is None or x_range[0] <= x <= x_range[1]:
                xs.append(x)
                ys.append(y)
    if not ys:
        return None
    lo, hi = min(ys), max(ys)
    if log:
        return lo / 1.15, hi * 1.15
    pad = 0.06 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 0.01)
    return lo - pad, hi + pad


def rd_figure(title: str, inr: list[Curve], base: list[Curve], out_stem: Path,
              metrics: tuple[str, ...] = METRICS) -> list[Path]:
    """Write out_stem.png and out_stem.svg; returns the paths."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.0),
                             constrained_layout=True, squeeze=False)
    axes = axes[0]
    bpps = [p.bpp for c in inr for p in c.points]
    x_range = (min(bpps) / 1.2, max(bpps) * 1.2) if bpps else None
    for ax, metric in zip(axes, metrics, strict=True):
        drawn = False
        others = iter(OTHER_COLORS * 4)
        for c in inr:
            x, y = c.series(metric)
            color = LOSS_COLORS.get(c.loss) or next(others)
            if x:
                ax.plot(x, y, "-o", color=color, lw=1.8, ms=4, label=c.loss)
                drawn = True
        for c in base:
            x, y = c.series(metric)
            if x:
                ax.plot(x, y, "--", color=BASELINE_STYLES.get(c.label, "#444444"), lw=1.3,
                        marker=".", ms=3, label=c.label)
                drawn = True
        ax.set_xlabel("bits per pixel")
        lower = not HIGHER_IS_BETTER.get(metric, True)
        ax.set_ylabel(METRIC_LABELS.get(metric, metric) + (" (lower is better)" if lower
                                                           else ""))
        ax.grid(True, alpha=0.3)
        if not drawn:
            ax.text(0.5, 0.5, f"no {metric} values", ha="center", va="center",
                    transform=ax.transAxes)
            continue
        if x_range:
            ax.set_xlim(*x_range)
        ylim = _limits(inr + base, metric, x_range)
        if metric in LOG_METRICS and ylim and _positive(inr + base, metric):
            # LPIPS falls by two decades over a sweep: linear, its high-rate half is flat
            lo, hi = _limits(inr + base, metric, x_range, log=True)
            ax.set_yscale("log")
            ax.set_ylim(lo, hi)
        elif ylim and all(math.isfinite(v) for v in ylim):
            ax.set_ylim(*ylim)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right center", fontsize=8)
    fig.suptitle(title)
    paths = []
    # no date and fixed SVG ids: the same curves give the same bytes, so a regenerated report
    # changes a figure only where its data changed
    with plt.rc_context({"svg.hashsalt": "inrcodec"}):
        for ext in ("png", "svg"):
            p = out_stem.with_suffix(f".{ext}")
            fig.savefig(p, dpi=110 if ext == "png" else None, metadata={"Date": None})
            paths.append(p)
    plt.close(fig)
    return paths


def all_figures(curves: list[Curve], out_dir: Path,
                metrics: tuple[str, ...] = METRICS) -> dict[str, list[Path]]:
    """One figure per architecture (or one for the baselines alone when there is none), with
    a panel for each metric that some curve has (a run without LPIPS gets no empty panel)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = tuple(m for m in metrics if any(c.series(m)[0] for c in curves)) or metrics
    base = baselines(curves)
    archs = sorted({c.architecture for c in curves if c.kind == "inr"})
    figures: dict[str, list[Path]] = {}
    for arch in archs:
        inr = [c for c in curves if c.kind == "inr" and c.architecture == arch]
        stem = out_dir / f"rd_{_slug(arch)}"
        figures[arch] = rd_figure(f"{arch}: one curve per training loss", inr, base, stem,
                                  metrics)
    if not archs and base:
        figures["baselines"] = rd_figure("baselines", [], base, out_dir / "rd_baselines",
                                         metrics)
    return figures


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)
