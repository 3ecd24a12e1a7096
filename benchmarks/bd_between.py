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

Either side may also be the rows of a side-by-side benchmark (`coolchic_vs_cc501.py`'s .jsonl,
one encode a row with image, protocol, bpp and psnr), its curve a filter of key=value pairs,
e.g. `coolchic` at 2000 iterations against AVIF:

    python benchmarks/bd_between.py runs/cc-default.sqlite avif \
        benchmarks/results/coolchic_vs_cc501_w05_fmt2.jsonl "side=ours,itr=2000"
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from inrcodec.bench.bdrate import bd
from inrcodec.bench.protocols import protocol
from inrcodec.bench.store import Store
from inrcodec.errors import InrCodecError

Curves = dict[str, tuple[list[float], list[float]]]  # image -> (bpp, metric) points


def store_rows(path: str | Path) -> list[dict]:
    with Store.open(path) as store:
        return store.rows("done")


def jsonl_rows(path: str | Path, curve: str) -> list[dict]:
    """A side-by-side benchmark's rows that match `curve` ("key=value,..."), as store rows:
    the image named as a bench store names it (kodim01@1/2 for kodak6-half), seed 0."""
    try:
        wanted = dict(kv.split("=", 1) for kv in curve.split(","))
    except ValueError:
        raise InrCodecError(f"{curve!r}: a .jsonl curve is key=value pairs, comma "
                            "separated") from None
    out = []
    for line in Path(path).read_text().splitlines():
        r = json.loads(line) if line.strip() else {}
        if not r or any(str(r.get(k)) != v for k, v in wanted.items()):
            continue
        p = protocol(r["protocol"])
        suffix = (f"@1/{p.reduce}" if p.reduce > 1 else "") + (
            "[{},{},{},{}]".format(*p.crop) if p.crop else "")
        out.append({"curve": curve, "image": r["image"] + suffix, "seed": 0,
                    "bpp": r["bpp"], "psnr": r["psnr"]})
    return out


def rows_of(path: str, curve: str) -> list[dict]:
    return jsonl_rows(path, curve) if path.endswith(".jsonl") else store_rows(path)


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
              "(stores: .sqlite databases, .json exports or side-by-side .jsonl rows)",
              file=sys.stderr)
        sys.exit(2)
    curves = []
    for path, name in (sys.argv[1:3], sys.argv[3:5]):
        try:
            rows = rows_of(path, name)
        except (InrCodecError, OSError, KeyError, json.JSONDecodeError) as exc:
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
