"""BD-rate (PSNR) of one curve against another, per image and the mean, from two result stores
(`inrcodec bench` databases or their JSON exports; the images both hold), e.g. Cool-chic v2
against v1 on kodak6-half:

    python benchmarks/bd_between.py \\
        benchmarks/results/coolchic-v1-kodak6-half.store.json "coolchic-v1:fast|mse" \\
        benchmarks/results/coolchic-v2-kodak6-half.store.json "coolchic-v2:fast|mse"

A curve is named as in the store's `curve` column (`inrcodec report` lists them), e.g.
"coolchic-v2:fast|mse", "avif". Prints "images | mean BD-rate % | mean BD-PSNR dB | per image".
Negative: the second curve needs fewer bits at equal PSNR. The inrcodec report compares curves
of one store averaged over images; this compares two stores image by image.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from inrcodec.bench.bdrate import bd
from inrcodec.bench.store import Store
from inrcodec.errors import InrCodecError

Curves = dict[str, tuple[list[float], list[float]]]  # image -> (bpp, metric) points


def store_rows(path: str | Path) -> list[dict]:
    with Store.open(path) as store:
        return store.rows("done")


def curves_by_image(rows: list[dict], curve: str, metric: str = "psnr") -> Curves:
    """The curve's points on each image (rows of seeds other than the first are left out)."""
    rows = [r for r in rows if r["curve"] == curve]
    first = min((r["seed"] for r in rows), default=0)
    out: Curves = {}
    for r in rows:
        if r["seed"] == first:
            bpp, q = out.setdefault(r["image"], ([], []))
            bpp.append(r["bpp"])
            q.append(r[metric])
    return out


def bd_cells(anchor: Curves, test: Curves) -> str:
    """'images | mean BD-rate | mean BD-PSNR | per image' over the images both have, or ''."""
    res = {im: bd(*anchor[im], *test[im]) for im in test
           if im in anchor and len(test[im][0]) > 1}
    vals = [v.bd_rate for v in res.values() if v.bd_rate == v.bd_rate]
    dps = [v.bd_metric for v in res.values() if v.bd_metric == v.bd_metric]
    per = ", ".join(f"{im} {v.bd_rate:+.1f}%" for im, v in sorted(res.items()))
    if not vals:
        return ""
    return (f"{len(vals)} | {statistics.mean(vals):+.1f} | {statistics.mean(dps):+.2f} | "
            f"{per}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return
    if len(sys.argv) != 5:
        print("usage: bd_between.py ANCHOR_STORE ANCHOR_CURVE TEST_STORE TEST_CURVE "
              "(stores: .sqlite databases or .json exports)", file=sys.stderr)
        sys.exit(2)
    curves = []
    for path, name in (sys.argv[1:3], sys.argv[3:5]):
        try:
            rows = store_rows(path)
        except InrCodecError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        have = sorted({r["curve"] for r in rows})
        if name not in have:
            print(f"error: {path} has no curve {name!r} (it has: {', '.join(have)})",
                  file=sys.stderr)
            sys.exit(2)
        curves.append(curves_by_image(rows, name))
    print(bd_cells(*curves) or "no image with both curves")


if __name__ == "__main__":
    main()
