"""BD-rate (PSNR) of one codec's curves against another's, per image and the mean, from two
result files of the Kodak benchmarks (the images both hold), e.g. v2 against v1:

    python benchmarks/bd_between.py benchmarks/results/coolchic_v1_kodak6half.json coolchic-v1 \\
        benchmarks/results/coolchic_v2_kodak6half.json coolchic-v2

Prints "images | mean BD-rate % | mean BD-PSNR dB | per image", as the Cool-chic report's
tables. Negative: the second codec needs fewer bits at equal PSNR.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from coolchic_kodak import _bd_cells, _curves  # noqa: E402


def main() -> None:
    if len(sys.argv) != 5:
        print("usage: bd_between.py ANCHOR.json ANCHOR_CODEC TEST.json TEST_CODEC",
              file=sys.stderr)
        sys.exit(2)
    try:
        anchor, test = (_curves(json.loads(Path(f).read_text())["rows"], c)
                        for f, c in (sys.argv[1:3], sys.argv[3:5]))
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: not a benchmark result file: {exc}", file=sys.stderr)
        sys.exit(2)
    print(_bd_cells(anchor, test) or "no image with both curves")


if __name__ == "__main__":
    main()
