"""BD-rate (PSNR) of one codec's curves against another's, per image and the mean, from two
result files of the Kodak benchmarks (the images both hold), e.g. v2 against v1:

    python benchmarks/bd_between.py benchmarks/results/coolchic_v1_kodak6half.json coolchic-v1 \\
        benchmarks/results/coolchic_v2_kodak6half.json coolchic-v2

Negative: the second codec needs fewer bits at equal PSNR.
"""

from __future__ import annotations

import json
import math
import sys

from inrcodec.bench.bdrate import bd


def curves(path: str, codec: str) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for r in json.load(open(path))["rows"]:
        if r["codec"] == codec:
            out.setdefault(r["image"], []).append((r["bpp"], r["psnr"]))
    return out


def main() -> None:
    anchor, test = curves(*sys.argv[1:3]), curves(*sys.argv[3:5])
    values = []
    for image in sorted(set(anchor) & set(test)):
        a, t = sorted(anchor[image]), sorted(test[image])
        v = bd([r for r, _ in a], [q for _, q in a], [r for r, _ in t], [q for _, q in t]).bd_rate
        print(f"{image}: {v:+.1f} %")
        if not math.isnan(v):
            values.append(v)
    if values:
        print(f"mean of {len(values)}: {sum(values) / len(values):+.1f} %")


if __name__ == "__main__":
    main()
