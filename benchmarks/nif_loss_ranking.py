"""NIF's loss ranking in our loss study against the NIF fork's own loss ablation (issue 17).

    python benchmarks/nif_loss_ranking.py benchmarks/results/study-kodak6-half/report/curves.csv \
        -o benchmarks/results/study-kodak6-half/nif_loss_ranking.md

NIF's rate is its network, so every loss runs the same configurations and the losses compare
point by point (no BD-rate needed). The input is the `curves.csv` of `inrcodec report` on the
study's store (each point the mean over the images every curve has). The reference is
INRAnalysis-ICIP24/nif `results/summaries/ablations/kodak/{baseline,losses/*}.json`: full-size
Kodak, 24-image means, `baseline` being the default LcSSIM. Its configurations 120 and 200 are
the ones our study runs at half size, so the absolute numbers differ (half-size images, four of
them); what is compared is the order of the losses at each configuration, pair by pair. Pairs
the reference itself cannot separate (under `TIE` apart) are left out of the count.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import sys
from pathlib import Path

from inrcodec.errors import run_script

# (bpp, PSNR dB, MS-SSIM) per configuration and loss, from the fork's ablation summaries
REFERENCE = {
    "120": {"lcssim": (0.277, 28.32, 0.9257), "mse": (0.278, 28.51, 0.9121),
            "logcosh": (0.278, 28.53, 0.9129), "l1": (0.275, 27.61, 0.9200)},
    "200": {"lcssim": (0.577, 30.94, 0.9594), "mse": (0.580, 31.19, 0.9509),
            "logcosh": (0.580, 31.19, 0.9513), "l1": (0.580, 30.26, 0.9555)},
    "280": {"lcssim": (0.969, 33.22, 0.9758), "mse": (0.972, 33.34, 0.9696),
            "logcosh": (0.968, 33.37, 0.9697), "l1": (0.974, 32.59, 0.9728)},
    "360": {"lcssim": (1.629, 35.62, 0.9859), "mse": (1.638, 35.74, 0.9823),
            "logcosh": (1.635, 35.77, 0.9824), "l1": (1.633, 35.04, 0.9840)},
}
TIE = {"psnr": 0.05, "msssim": 0.001}  # differences the reference's means cannot separate
LOSS_NAME = {"nif_l1ssim": "l1ssim"}


def _config(rate: str) -> str:
    """The NIF configuration a rate point names: its first hidden width (120, 200; 48 is our
    smaller half-size network)."""
    return str(json.loads(rate)["hidden"][0])


def read_points(path: Path) -> dict[str, dict[str, dict[str, float]]]:
    """config -> loss -> metric -> mean, for the NIF curves of a report's curves.csv."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            if r["kind"] != "inr" or r["architecture"] != "nif":
                continue
            loss = LOSS_NAME.get(r["loss"], r["loss"])
            out.setdefault(_config(r["rate"]), {})[loss] = {
                k: float(r[k]) for k in ("bpp", "psnr", "msssim", "msssim_db", "lpips")
                if r.get(k) not in (None, "")} | {"images": float(r["images"])}
    return out


def order(values: dict[str, float], higher_better: bool = True) -> str:
    ranked = sorted(values, key=lambda k: values[k], reverse=higher_better)
    return " > ".join(ranked)


def agreement(ours: dict[str, float], ref: dict[str, float], tie: float) -> tuple[int, int]:
    """Pairs of losses ordered as the reference orders them, and pairs the reference separates."""
    same = total = 0
    for a, b in itertools.combinations(sorted(set(ours) & set(ref)), 2):
        d_ref = ref[a] - ref[b]
        if abs(d_ref) < tie:
            continue
        total += 1
        same += (ours[a] - ours[b]) * d_ref > 0
    return same, total


def table(points: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = []
    configs = sorted(points, key=int)
    losses = sorted({loss for c in configs for loss in points[c]})
    lines.append("| config | " + " | ".join(losses) + " |")
    lines.append("|---" * (len(losses) + 1) + "|")
    for c in configs:
        cells = []
        for loss in losses:
            p = points[c].get(loss)
            cells.append("" if p is None else
                         f"{p['bpp']:.3f} / {p['psnr']:.2f} / {p['msssim']:.4f} / "
                         f"{p.get('lpips', math.nan):.3f}")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(points: dict[str, dict[str, dict[str, float]]]) -> str:
    counts = sorted({int(p["images"]) for c in points.values() for p in c.values()})
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    parts = ["# NIF: the loss ranking in our study against the fork's ablation", "",
             f"Ours: kodak6-half at half size, `fork-*` recipe, each cell the mean over {n} "
             "image(s) (the report's NIF group); bpp / PSNR (dB) / MS-SSIM / LPIPS; orders "
             "below list the better loss first.", "",
             table(points), ""]
    n_same = n_total = 0
    for c in sorted(points, key=int):
        ours = points[c]
        line = [f"- config {c}: ours PSNR {order({k: v['psnr'] for k, v in ours.items()})}; "
                f"MS-SSIM {order({k: v['msssim'] for k, v in ours.items()})}; LPIPS "
                f"{order({k: v['lpips'] for k, v in ours.items() if 'lpips' in v}, False)}"]
        ref = REFERENCE.get(c)
        if ref is not None:
            for m, name, i in (("psnr", "PSNR", 1), ("msssim", "MS-SSIM", 2)):
                r = {k: v[i] for k, v in ref.items()}
                same, total = agreement({k: v[m] for k, v in ours.items()}, r, TIE[m])
                n_same, n_total = n_same + same, n_total + total
                line.append(f"  reference (full size) {name} {order(r)}: {same} of "
                            f"{total} separable pairs ordered alike")
        parts.append("\n".join(line))
    if n_total:
        parts += ["", f"Over the shared configurations: {n_same} of {n_total} pairs of losses "
                      "the reference separates are ordered alike in ours."]
    return "\n".join(parts) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("curves", type=Path, help="curves.csv of `inrcodec report`")
    ap.add_argument("-o", "--out", type=Path)
    args = ap.parse_args()
    points = read_points(args.curves)
    if not points:
        print(f"error: {args.curves}: no NIF curves yet", file=sys.stderr)
        raise SystemExit(2)
    text = report(points)
    if args.out:
        args.out.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    run_script(main)
