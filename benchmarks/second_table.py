"""The loss study's second table (issue 17): every loss at the MSE-tuned lambdas, as the seed
study ran them, from the report of the study's store.

    python benchmarks/second_table.py benchmarks/results/study-kodak6-half/report \
        -o benchmarks/results/study-kodak6-half/second_table.md

The seed kept one set of lambdas, tuned for MSE, for every loss. A loss whose distortion is
on a smaller scale than MSE's (LogCosh, about half) weighs the rate more at the same lambda and
lands at a lower rate, one on a larger scale (L1, RMSE) at a higher one, so at one lambda the
losses differ in bits and quality at once. The first table gives,
per lambda, each loss's mean bpp and quality over the images every curve has (the report's
`curves.csv`, group `LABEL`) and the bits it spends against MSE's at that lambda; the second
gives, where a loss's curve and MSE's share a quality range, the BD-rate against MSE (the
report's `bd.csv`); where they do not overlap, no fair comparison exists at these lambdas,
which is why the main spec gives each loss its own lambdas. Beside each, the same BD-rate of
the main spec's curves (`MAIN`: per-loss lambdas spanning the same bpp range), and how many
of the comparisons keep their sign between the two protocols.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

from inrcodec.errors import run_script

LABEL = "coolchic-v1-samelambda"
MAIN = "coolchic-v1"  # the main spec's curves of the same codec and recipe, per-loss lambdas
ANCHOR = "mse"
# (column, curves.csv field, higher is better, format)
QUALITY = (("PSNR (dB)", "psnr", True, "{:.2f}"), ("MS-SSIM (dB)", "msssim_db", True, "{:.2f}"),
           ("LPIPS", "lpips", False, "{:.4f}"))
BD_METRICS = (("PSNR", "psnr"), ("MS-SSIM dB", "msssim_db"), ("LPIPS", "lpips"))
LOW_OVERLAP = 0.5  # as the report marks it: a BD-rate over less than half the range


def _rows(path: Path, label: str) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return [r for r in csv.DictReader(fh) if r.get("group") == label
                or r.get("architecture") == label]


def _float(v: str | None) -> float:
    try:
        return float(v) if v not in (None, "") else math.nan
    except ValueError:
        return math.nan


def points(curves: Path, label: str = LABEL) -> dict[float, dict[str, dict[str, float]]]:
    """lambda -> loss -> {bpp, psnr, msssim_db, lpips, images} for the label's INR curves."""
    out: dict[float, dict[str, dict[str, float]]] = {}
    for r in _rows(curves, label):
        if r["kind"] != "inr":
            continue
        lmbda = float(json.loads(r["rate"])["lmbda"])
        out.setdefault(lmbda, {})[r["loss"]] = {
            k: _float(r.get(k)) for k in ("bpp", "psnr", "msssim_db", "lpips", "images")}
    return out


def bd_rates(bd: Path, label: str = LABEL) -> dict[str, dict[str, tuple[float, float]]]:
    """loss -> metric -> (BD-rate % against MSE, overlap) for the label."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for r in _rows(bd, label):
        if r["anchor"] == ANCHOR:
            out.setdefault(r["loss"], {})[r["metric"]] = (_float(r["bd_rate"]),
                                                          _float(r["overlap"]))
    return out


def _order(losses: list[str]) -> list[str]:
    return sorted(losses, key=lambda loss: (loss != ANCHOR, loss))


def lambda_table(pts: dict[float, dict[str, dict[str, float]]]) -> str:
    head = ["lambda", "loss", "bpp", "bits vs mse"] + [q[0] for q in QUALITY]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for lmbda in sorted(pts):
        row = pts[lmbda]
        best = {field: (max if hi else min)(v[field] for v in row.values())
                for _, field, hi, _ in QUALITY}
        anchor = row.get(ANCHOR)
        for loss in _order(list(row)):
            p = row[loss]
            ratio = ("" if anchor is None or loss == ANCHOR
                     else f"{100 * (p['bpp'] / anchor['bpp'] - 1):+.1f} %")
            cells = [f"{lmbda:g}", loss, f"{p['bpp']:.3f}", ratio]
            for _, field, _, fmt in QUALITY:
                text = fmt.format(p[field]) if math.isfinite(p[field]) else "n/a"
                cells.append(f"**{text}**" if len(row) > 1 and p[field] == best[field]
                             else text)
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _same_sign(a: float, b: float) -> bool:
    return math.isfinite(a) and math.isfinite(b) and (a < 0) == (b < 0)


def bd_table(bds: dict[str, dict[str, tuple[float, float]]],
             main: dict[str, dict[str, tuple[float, float]]] | None = None) -> str:
    """One row per loss; with `main`, each cell also gives the main spec's BD-rate."""
    head = ["loss"] + [f"BD-rate vs mse, {name}" for name, _ in BD_METRICS]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for loss in _order([x for x in bds if x != ANCHOR]):
        cells = [loss]
        for _, metric in BD_METRICS:
            rate, overlap = bds[loss].get(metric, (math.nan, math.nan))
            if not math.isfinite(rate):
                text = "no overlap"
            else:
                mark = f" (over {overlap:.0%} of the range)" if overlap < LOW_OVERLAP else ""
                text = f"{rate:+.1f} %{mark}"
            if main is not None:
                other = main.get(loss, {}).get(metric, (math.nan, math.nan))[0]
                text += f"; main {other:+.1f} %" if math.isfinite(other) else "; main n/a"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def agreement(bds: dict[str, dict[str, tuple[float, float]]],
              main: dict[str, dict[str, tuple[float, float]]]) -> tuple[int, int, list[str]]:
    """(comparisons with the same sign, comparisons both protocols measure, the others as
    'loss metric')."""
    same, both, differ = 0, 0, []
    for loss in _order([x for x in bds if x != ANCHOR]):
        for _, metric in BD_METRICS:
            a = bds[loss].get(metric, (math.nan, math.nan))[0]
            b = main.get(loss, {}).get(metric, (math.nan, math.nan))[0]
            if not (math.isfinite(a) and math.isfinite(b)):
                continue
            both += 1
            if _same_sign(a, b):
                same += 1
            else:
                differ.append(f"{loss} {metric}")
    return same, both, differ


def report(pts: dict[float, dict[str, dict[str, float]]],
           bds: dict[str, dict[str, tuple[float, float]]], label: str = LABEL,
           main: dict[str, dict[str, tuple[float, float]]] | None = None,
           main_label: str = MAIN) -> str:
    images = sorted({int(p["images"]) for row in pts.values() for p in row.values()
                     if math.isfinite(p["images"])})
    n = "?" if not images else str(images[0]) if len(images) == 1 else \
        f"{images[0]}-{images[-1]}"
    losses = sorted({loss for row in pts.values() for loss in row})
    return "\n".join([
        f"# The second table: every loss at the MSE-tuned lambdas (`{label}`)", "",
        f"Cool-chic v1 `icip24`, the seed study's protocol: one set of lambdas for every loss. "
        f"Means over {n} image(s) (the images every curve of the group has); losses: "
        f"{', '.join(losses)}. Best quality per lambda in bold; \"bits vs mse\" is the loss's "
        "bpp against MSE's at the same lambda, so a loss can win a column by spending more "
        "bits.", "",
        lambda_table(pts), "",
        "## Where the curves meet MSE's", "",
        "BD-rate against MSE (negative: fewer bits at equal quality) over the quality range "
        "both curves share; \"no overlap\" where they share none, the seed's problem that the "
        "main spec's per-loss lambdas solve." + (
            f" \"main\": the same BD-rate of the main spec's `{main_label}` curves (per-loss "
            "lambdas over the same bpp range; BD-rates of the mean curves, as the report's "
            "`bd.csv`)." if main else ""), "",
        bd_table(bds, main or None), ""] + (_agreement_text(bds, main) if main else []))


def _agreement_text(bds: dict[str, dict[str, tuple[float, float]]],
                    main: dict[str, dict[str, tuple[float, float]]]) -> list[str]:
    same, both, differ = agreement(bds, main)
    tail = f"; the others: {', '.join(differ)}" if differ else ""
    return [f"{same} of {both} comparisons have the same sign under both protocols{tail}.",
            ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("report", type=Path, help="folder of `inrcodec report` (curves.csv, bd.csv)")
    ap.add_argument("-o", "--out", type=Path)
    ap.add_argument("--label", default=LABEL, help=f"curve group (default {LABEL})")
    ap.add_argument("--main", default=MAIN,
                    help=f"the per-loss-lambda curves to compare with (default {MAIN}; '' for "
                    "none)")
    args = ap.parse_args()
    for name in ("curves.csv", "bd.csv"):
        if not (args.report / name).is_file():
            print(f"error: {args.report / name}: not found (a report folder of `inrcodec "
                  "report` is expected)", file=sys.stderr)
            raise SystemExit(2)
    pts = points(args.report / "curves.csv", args.label)
    if not pts:
        print(f"error: {args.report}: no '{args.label}' curves yet", file=sys.stderr)
        raise SystemExit(2)
    main_bds = bd_rates(args.report / "bd.csv", args.main) if args.main else None
    if args.main and not main_bds:
        print(f"error: {args.report / 'bd.csv'}: no BD-rates of '{args.main}' against "
              f"{ANCHOR} to compare with (--main '' for none)", file=sys.stderr)
        raise SystemExit(2)
    text = report(pts, bd_rates(args.report / "bd.csv", args.label), args.label, main_bds,
                  args.main)
    if args.out:
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(args.out)
    print(text, end="")


if __name__ == "__main__":
    run_script(main)
