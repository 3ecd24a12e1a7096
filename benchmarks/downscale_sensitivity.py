"""How much the 2x downscaling moves rate-distortion on Kodak at half size (issue 17's NIF anchor).

    python benchmarks/downscale_sensitivity.py ../shared/data/kodak \
        -o benchmarks/results/downscale_sensitivity.md

The NIF fork's kodak_x2 numbers come from half-size images made beforehand, and neither the fork
nor upstream NIF says how (its scripts read `test_images/<dataset>/*.png`; kodak_x2 is not in
the repository). We reduce with Pillow's `reduce(2)` (a 2x2 box average). A sharper filter keeps
more high frequencies and so costs more bits at the same PSNR. This measures that effect with a
fast codec (AVIF, as the study's baselines run it) on all 24 images: each filter's curve
against the box's, as BD-PSNR (dB at equal bpp, the unit of the anchor's 0.5 dB target) and
BD-rate, over qualities that span the anchor's ~1.0-1.5 bpp.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
from PIL import Image
from provenance import stamp, write_report

from inrcodec.baselines.codecs import get_baseline
from inrcodec.bench.bdrate import bd

FILTERS = {
    "box (reduce(2), ours)": lambda im: im.reduce(2),
    "bilinear (antialiased)": lambda im: im.resize((im.width // 2, im.height // 2),
                                                   Image.Resampling.BILINEAR),
    "bicubic (antialiased)": lambda im: im.resize((im.width // 2, im.height // 2),
                                                  Image.Resampling.BICUBIC),
    "Lanczos (antialiased)": lambda im: im.resize((im.width // 2, im.height // 2),
                                                  Image.Resampling.LANCZOS),
    "every 2nd pixel (no filter)": lambda im: Image.fromarray(np.asarray(im)[::2, ::2]),
}
QUALITIES = (50, 60, 70, 75, 80, 85)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0 ** 2 / mse)


def curve(codes: np.ndarray) -> tuple[list[float], list[float]]:
    avif = get_baseline("avif")
    bpp, q = [], []
    for quality in QUALITIES:
        data = avif.encode(codes, quality)
        bpp.append(len(data) * 8 / (codes.shape[0] * codes.shape[1]))
        q.append(psnr(codes, avif.decode(data)))
    return bpp, q


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kodak", type=Path, help="folder of the full-size Kodak PNGs")
    ap.add_argument("-o", "--out", type=Path)
    args = ap.parse_args()
    files = sorted(args.kodak.glob("kodim*.png"))
    if not files:
        raise SystemExit(f"{args.kodak}: no kodim*.png")
    names = list(FILTERS)
    run = stamp()
    per: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names[1:]}
    mean_bpp: dict[str, list[float]] = {n: [] for n in names}
    for f in files:
        im = Image.open(f).convert("RGB")
        curves = {n: curve(np.asarray(FILTERS[n](im))) for n in names}
        for n in names:
            mean_bpp[n].append(statistics.fmean(curves[n][0]))
        base = curves[names[0]]
        for n in names[1:]:
            r = bd(*base, *curves[n])
            per[n].append((r.bd_metric, r.bd_rate, r.overlap))
    lines = ["# The 2x downscaling filter against Pillow's reduce(2), Kodak 24 at half size", "",
             f"`{run['command']}` at {run['commit']}, {run['date']}, {run['machine']}, load "
             f"{run['load_avg']:.1f} at the start.", "",
             f"AVIF (Pillow/libavif, as the study's baseline) at qualities {QUALITIES}; per "
             "image, each filter's PSNR curve against the box's; mean (min..max) over "
             f"{len(files)} images.", "",
             "| filter | mean bpp over the sweep | BD-PSNR (dB) | BD-rate (%) |",
             "|---|---|---|---|",
             f"| {names[0]} | {statistics.fmean(mean_bpp[names[0]]):.3f} | 0 | 0 |"]
    for n in names[1:]:
        dp = [v[0] for v in per[n]]
        dr = [v[1] for v in per[n]]
        lines.append(f"| {n} | {statistics.fmean(mean_bpp[n]):.3f} | "
                     f"{statistics.fmean(dp):+.2f} ({min(dp):+.2f}..{max(dp):+.2f}) | "
                     f"{statistics.fmean(dr):+.1f} ({min(dr):+.1f}..{max(dr):+.1f}) |")
    text = "\n".join(lines) + "\n"
    if args.out:
        write_report(args.out, text)
    print(text, end="")


if __name__ == "__main__":
    main()
