"""Does Cool-chic v2's `icip24-quarter` rank the losses as the full `icip24` recipe does?
(issue 17: the loss study runs v2 at the quarter preset if its ranking agrees.)

    python benchmarks/v2_calibration.py /work/runs/study-kodak6-half/results.sqlite \
        /work/runs/study-kodak6-half-calibration/results.sqlite \
        -o benchmarks/results/study-kodak6-half/v2_calibration.md

The calibration store (study-kodak6-half-calibration.toml) holds `icip24` encodes, one rate
point per (image, loss); the main study's store holds the `icip24-quarter` encode of the same
(image, loss, lambda). For each image and metric the script orders the losses under both
recipes and counts the pairs of losses ordered alike. One point per loss means no BD-rate: the
losses sit at different rates, so the orders compare the recipes with each other, not the
losses at equal rate. It also gives what the full recipe buys over the quarter one, loss by
loss (bpp, PSNR, MS-SSIM dB, LPIPS, encode time).

C3 (v2 with LcSSIM close to AVIF in MS-SSIM) at the full recipe: each image's cc_lcssim point
against the main store's AVIF curve at the same MS-SSIM dB, judged as `claims` judges C3
(close: a mean within 10 %). With `--findings FILE` (the study's findings.csv) the result is
written there as the rows "C3 (icip24)" and "C3 (icip24, avif/420)", replacing earlier ones.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from inrcodec.bench.claims import CLOSE, close
from inrcodec.bench.perimage import Spread
from inrcodec.bench.store import Store
from inrcodec.errors import run_script

FULL, QUARTER = "icip24", "icip24-quarter"
METRICS = (("bpp", "bpp", False), ("psnr", "PSNR", True), ("msssim_db", "MS-SSIM dB", True),
           ("lpips", "LPIPS", False))

Key = tuple[str, str, str]  # image, loss, rate_json


def done_rows(db: str | Path) -> list[dict[str, Any]]:
    with Store.open(db) as store:
        return store.rows("done")


def v2_rows(rows: list[dict[str, Any]], variant: str) -> dict[Key, dict[str, Any]]:
    return {(r["image"], r["loss"], r["rate_json"]): r for r in rows
            if r["kind"] == "inr" and r["codec"] == "coolchic-v2" and r["variant"] == variant}


def avif_curves(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(AVIF label, image) -> [(msssim_db, bpp)] sorted by quality, from the main store's rows."""
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in rows:
        if r["kind"] == "baseline" and r["codec"] == "avif" and r["msssim_db"] is not None:
            out.setdefault((r["curve"], r["image"]), []).append((r["msssim_db"], r["bpp"]))
    return {k: sorted(v) for k, v in out.items()}


def rate_at(curve: list[tuple[float, float]], quality: float) -> float:
    """bpp at `quality` on a curve of (quality, bpp), log-linear between its neighbours; nan
    outside it."""
    for (q0, b0), (q1, b1) in zip(curve, curve[1:], strict=False):
        if q0 <= quality <= q1 and q1 > q0:
            t = (quality - q0) / (q1 - q0)
            return math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0)))
    return math.nan


def c3_section(full: dict[Key, dict[str, Any]], quarter: dict[Key, dict[str, Any]],
               avif: dict[tuple[str, str], list[tuple[float, float]]]) -> list[str]:
    lines = ["", "## C3 at each recipe: Cool-chic v2 with cc_lcssim against AVIF in MS-SSIM",
             "", "Bits the v2 point needs over AVIF's at the same MS-SSIM dB (negative: fewer).",
             "", "| image | recipe | bpp | MS-SSIM dB | vs avif | vs avif/420 |",
             "|---|---|---|---|---|---|"]
    for name, rows in (("icip24", full), ("icip24-quarter", quarter)):
        for (image, loss, _), r in sorted(rows.items()):
            if loss != "cc_lcssim" or (image, loss, _) not in full:
                continue
            cells = []
            for label in ("avif", "avif/420"):
                b = rate_at(avif.get((label, image), []), r["msssim_db"])
                cells.append(f"{100 * (r['bpp'] / b - 1):+.1f} %" if math.isfinite(b) else "-")
            lines.append(f"| {image} | {name} | {r['bpp']:.3f} | {r['msssim_db']:.2f} | "
                         f"{cells[0]} | {cells[1]} |")
    return lines


AVIF_LABELS = ("avif", "avif/420")
C3_LOSS = "cc_lcssim"
C3_STATEMENT = "Cool-chic v2 + LcSSIM close to AVIF in MS-SSIM at 0.9-2 bpp"
VERDICT = {"holds": "reproduced", "fails": "not reproduced", "unclear": "inconclusive"}


def c3_spread(rows: dict[Key, dict[str, Any]], avif: dict[tuple[str, str], list[tuple[float,
              float]]], label: str, recipe: str, points: set[Key]) -> Spread:
    """Per image, the bits the recipe's cc_lcssim encode at one of `points` needs over AVIF's
    at its MS-SSIM dB (%)."""
    per_image = {}
    for (image, loss, rate), r in rows.items():
        if loss != C3_LOSS or (image, loss, rate) not in points:
            continue
        b = rate_at(avif.get((label, image), []), r["msssim_db"])
        per_image[image] = 100 * (r["bpp"] / b - 1) if math.isfinite(b) else math.nan
    return Spread(f"coolchic-v2-{recipe}|{C3_LOSS}", label, "msssim_db", per_image)


def c3_findings(full: dict[Key, dict[str, Any]], quarter: dict[Key, dict[str, Any]],
                avif: dict[tuple[str, str], list[tuple[float, float]]]) -> list[dict[str, str]]:
    """The rows "C3 (icip24)" and "C3 (icip24, avif/420)" of findings.csv: C3 at the full
    recipe, one point per image, beside the quarter recipe's encodes of the same points."""
    out = []
    points = set(full)  # the quarter recipe at the same (image, loss, lambda) only
    images = {k[0] for k in full}
    for label in AVIF_LABELS:
        s = c3_spread(full, avif, label, FULL, points)
        q = c3_spread(quarter, avif, label, QUARTER, points)
        outcome = close(s)
        at = ", ".join(f"{k[0]} {r['bpp']:.2f}" for k, r in sorted(full.items())
                       if k[1] == C3_LOSS)
        numbers = (f"{C3_LOSS} within {CLOSE:g} % of {label}: {outcome}, {s.describe()}; "
                   f"one point per image, at the main spec's middle lambda (bpp: {at}); the "
                   f"same points at icip24-quarter: {q.describe()}")
        verdict = VERDICT[outcome]
        if s.n < len(images):  # the calibration is still running: no verdict on part of it
            verdict = "inconclusive"
            numbers = f"{C3_LOSS} on {s.n} of the {len(images)} images so far; " + numbers
        out.append({"claim": "C3 (icip24)" if label == "avif" else f"C3 (icip24, {label})",
                    "statement": C3_STATEMENT, "verdict": verdict, "numbers": numbers})
    return out


def update_findings(path: Path, rows: list[dict[str, str]]) -> None:
    """Replace the C3 (icip24...) rows of a findings.csv (claim, statement, verdict, numbers)
    with `rows`, keeping every other row and the order; written whole, then moved in place."""
    with open(path, newline="") as fh:
        kept = [r for r in csv.DictReader(fh) if not r["claim"].startswith("C3 (icip24")]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["claim", "statement", "verdict", "numbers"])
        w.writeheader()
        w.writerows(kept + rows)
    tmp.replace(path)


def order(values: dict[str, float], higher_better: bool) -> list[str]:
    return sorted(values, key=lambda k: values[k], reverse=higher_better)


def pairs_alike(a: dict[str, float], b: dict[str, float]) -> tuple[int, int]:
    same = total = 0
    for x, y in itertools.combinations(sorted(set(a) & set(b)), 2):
        total += 1
        same += (a[x] - a[y]) * (b[x] - b[y]) > 0
    return same, total


def report(full: dict[Key, dict[str, Any]], quarter: dict[Key, dict[str, Any]],
           avif: dict[tuple[str, str], list[tuple[float, float]]] | None = None) -> str:
    keys = sorted(set(full) & set(quarter))
    if not keys:
        print("error: no (image, loss, lambda) has both an icip24 and an icip24-quarter row",
              file=sys.stderr)
        raise SystemExit(2)
    images = sorted({k[0] for k in keys})
    out = ["# Cool-chic v2: icip24-quarter against the full icip24 recipe", "",
           f"{len(keys)} (image, loss, lambda) points with both recipes; per image and metric, "
           "the losses in order (best first) and the pairs of losses ordered alike.", ""]
    same_all = total_all = 0
    for image in images:
        here = [k for k in keys if k[0] == image]
        out.append(f"## {image}")
        out.append("")
        out.append("| metric | icip24 | icip24-quarter | pairs alike |")
        out.append("|---|---|---|---|")
        for m, name, higher in METRICS:
            f = {k[1]: full[k][m] for k in here if full[k][m] is not None}
            q = {k[1]: quarter[k][m] for k in here if quarter[k][m] is not None}
            same, total = pairs_alike(f, q)
            if m != "bpp":
                same_all, total_all = same_all + same, total_all + total
            out.append(f"| {name} | {' > '.join(order(f, higher))} | "
                       f"{' > '.join(order(q, higher))} | {same} of {total} |")
        out.append("")
    out += [f"Quality metrics over the {len(images)} images: {same_all} of {total_all} pairs of "
            "losses ordered alike.", "",
            "## What the full recipe buys (icip24 minus icip24-quarter)", "",
            "| image | loss | lambda | bpp | PSNR (dB) | MS-SSIM (dB) | LPIPS | "
            "encode s (full / quarter) |", "|---|---|---|---|---|---|---|---|"]
    deltas: dict[str, list[float]] = {m: [] for m, _, _ in METRICS}
    for k in keys:
        f, q = full[k], quarter[k]
        d = {m: f[m] - q[m] for m, _, _ in METRICS if f[m] is not None and q[m] is not None}
        for m, v in d.items():
            deltas[m].append(v)
        nan = float("nan")
        out.append(f"| {k[0]} | {k[1]} | {k[2]} | {d.get('bpp', nan):+.3f} | "
                   f"{d.get('psnr', nan):+.2f} | {d.get('msssim_db', nan):+.2f} | "
                   f"{d.get('lpips', nan):+.4f} | "
                   f"{f['encode_seconds']:.0f} / {q['encode_seconds']:.0f} |")
    means = ", ".join(f"{name} {statistics.fmean(deltas[m]):+.3g}" for m, name, _ in METRICS
                      if deltas[m])
    out += ["", f"Mean change: {means}."]
    if avif:
        out += c3_section(full, quarter, avif)
        if any(k[1] == C3_LOSS for k in full):
            out += [""] + [f"- {r['claim']}: **{r['verdict']}**: {r['numbers']}"
                           for r in c3_findings(full, quarter, avif)]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("main_db", help="the study's store (icip24-quarter rows)")
    ap.add_argument("calibration_db", help="the calibration spec's store (icip24 rows)")
    ap.add_argument("-o", "--out", type=Path)
    ap.add_argument("--findings", type=Path,
                    help="findings.csv to write C3 at the full recipe into (once run)")
    args = ap.parse_args()
    if args.findings and not args.findings.is_file():
        print(f"error: {args.findings}: no findings.csv there", file=sys.stderr)
        raise SystemExit(2)
    main_rows = done_rows(args.main_db)  # read once: the quarter encodes and AVIF
    full, quarter = v2_rows(done_rows(args.calibration_db), FULL), v2_rows(main_rows, QUARTER)
    avif = avif_curves(main_rows)
    text = report(full, quarter, avif)
    if args.findings and any(k[1] == C3_LOSS for k in full):
        update_findings(args.findings, c3_findings(full, quarter, avif))
    if args.out:
        args.out.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    run_script(main)
