"""Published Cool-chic results on Kodak (768x512), and the BD-rate of a result store's
Cool-chic curves against them on the same images:

    python benchmarks/coolchic_published.py benchmarks/results/coolchic-v2-kodak6.store.json

(a store or its export; every INR curve of a Cool-chic codec is compared with the published
curves of that codec, on the full-size images both have: kodak6-half images have other names
and are not compared).

Source: Orange-OpenSource/Cool-Chic, per-image result tables (bpp / PSNR dB by lambda, ~10k
GPU training steps per image):
  Cool-chic 1.0    results/v1.0/image-kodak.tsv (commit b46c141)
  Cool-chic 2.0    results/v2.0/image-kodak.tsv (commit 930afa4), Leguay et al. 2023, the
                   low-complexity codec our coolchic-v2 follows: the issue's "v2-era curve"
  Cool-chic 5.0.1  results/v5.0/image-kodak.tsv (commit 2d33679)
Only the kodak6 images are copied; the 24-image means are those the issue quotes.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bd_between import bd_cells, curves_by_image, store_rows  # noqa: E402

from inrcodec.errors import InrCodecError  # noqa: E402

Point = tuple[float, float, float]  # lambda, bpp, PSNR dB

MEANS: dict[str, dict] = {
    "coolchic-v2": {
        "label": "Cool-chic 5.0.1",
        "points": [
            (1e-4, 1.357, 41.17),
            (4e-4, 0.759, 37.25),
            (1e-3, 0.482, 34.52),
            (4e-3, 0.219, 30.86),
            (2e-2, 0.084, 27.44),
        ],
    },
    "coolchic-v1": {
        "label": "Cool-chic 1.0",
        "points": [
            (1e-4, 1.749, 40.78),
            (5e-4, 0.924, 35.83),
            (4e-3, 0.265, 29.41),
            (2e-2, 0.081, 25.77),
        ],
    },
}

# label -> (the codec of ours it is compared with, image -> points)
PER_IMAGE: dict[str, tuple[str, dict[str, list[Point]]]] = {
    "Cool-chic 1.0": (
        "coolchic-v1",
        {
            "kodim01": [
                (0.0001, 2.469584, 40.5391),
                (0.0005, 1.482931, 34.7933),
                (0.004, 0.371033, 26.9851),
                (0.02, 0.11086, 23.6777),
            ],
            "kodim03": [
                (0.0001, 1.027039, 42.2241),
                (0.0005, 0.513041, 37.7634),
                (0.004, 0.111511, 31.0855),
                (0.02, 0.043477, 28.4669),
            ],
            "kodim08": [
                (0.0001, 2.617289, 40.1621),
                (0.0005, 1.561462, 34.9354),
                (0.004, 0.607768, 27.4077),
                (0.02, 0.209249, 22.898),
            ],
            "kodim15": [
                (0.0001, 1.446147, 41.0023),
                (0.0005, 0.621847, 36.0305),
                (0.004, 0.152283, 30.3579),
                (0.02, 0.054789, 27.5689),
            ],
            "kodim20": [
                (0.0001, 1.15863, 41.4287),
                (0.0005, 0.670105, 37.2502),
                (0.004, 0.151225, 30.8387),
                (0.02, 0.05837, 27.369),
            ],
            "kodim23": [
                (0.0001, 0.950623, 41.6042),
                (0.0005, 0.449158, 37.8567),
                (0.004, 0.141378, 32.2369),
                (0.02, 0.055278, 28.1469),
            ],
        },
    ),
    "Cool-chic 2.0": (
        "coolchic-v2",
        {
            "kodim01": [
                (0.0001, 2.319417, 40.7095),
                (0.0004, 1.445882, 35.8463),
                (0.001, 0.979248, 32.4871),
                (0.004, 0.367188, 27.4794),
                (0.02, 0.117432, 24.0543),
            ],
            "kodim03": [
                (0.0001, 0.889323, 42.3899),
                (0.0004, 0.496501, 38.894),
                (0.001, 0.29484, 35.8385),
                (0.004, 0.13973, 32.7971),
                (0.02, 0.061442, 29.3056),
            ],
            "kodim08": [
                (0.0001, 2.415039, 40.2377),
                (0.0004, 1.495931, 35.5876),
                (0.001, 1.053304, 32.5136),
                (0.004, 0.570475, 27.9204),
                (0.02, 0.212484, 23.5223),
            ],
            "kodim15": [
                (0.0001, 1.291911, 41.4293),
                (0.0004, 0.626465, 36.9803),
                (0.001, 0.376221, 34.5159),
                (0.004, 0.152507, 31.204),
                (0.02, 0.068278, 28.0945),
            ],
            "kodim20": [
                (0.0001, 1.062826, 41.4496),
                (0.0004, 0.623698, 37.9993),
                (0.001, 0.363363, 34.6342),
                (0.004, 0.164876, 31.6252),
                (0.02, 0.069499, 28.1675),
            ],
            "kodim23": [
                (0.0001, 0.834961, 41.6063),
                (0.0004, 0.44751, 38.5094),
                (0.001, 0.281982, 36.2495),
                (0.004, 0.141357, 33.1573),
                (0.02, 0.076009, 29.3825),
            ],
        },
    ),
    "Cool-chic 5.0.1": (
        "coolchic-v2",
        {
            "kodim01": [
                (0.0001, 2.083712, 40.7552),
                (0.0004, 1.244437, 35.8312),
                (0.001, 0.771859, 32.3484),
                (0.004, 0.324185, 28.1647),
                (0.02, 0.093285, 24.6642),
            ],
            "kodim03": [
                (0.0001, 0.685899, 42.9509),
                (0.0004, 0.359201, 39.5291),
                (0.001, 0.229081, 37.1915),
                (0.004, 0.114122, 33.4708),
                (0.02, 0.050091, 30.302),
            ],
            "kodim08": [
                (0.0001, 2.100978, 40.2118),
                (0.0004, 1.196428, 35.5431),
                (0.001, 0.812963, 32.7278),
                (0.004, 0.410267, 28.6909),
                (0.02, 0.163177, 24.3797),
            ],
            "kodim15": [
                (0.0001, 1.021379, 41.6453),
                (0.0004, 0.502377, 37.7727),
                (0.001, 0.281638, 35.2769),
                (0.004, 0.124737, 32.1296),
                (0.02, 0.057625, 29.2284),
            ],
            "kodim20": [
                (0.0001, 0.871625, 41.6373),
                (0.0004, 0.480724, 38.3265),
                (0.001, 0.281626, 35.5279),
                (0.004, 0.124769, 32.4444),
                (0.02, 0.059206, 29.6612),
            ],
            "kodim23": [
                (0.0001, 0.645712, 42.1321),
                (0.0004, 0.353403, 39.3473),
                (0.001, 0.223455, 37.3441),
                (0.004, 0.114469, 34.135),
                (0.02, 0.059384, 30.7593),
            ],
        },
    ),
}


def published_bd(rows: list[dict]) -> list[str]:
    """Markdown rows: BD-rate (PSNR) of each Cool-chic curve against each published curve of
    its codec, per image and the mean, on the images both have (the integral spans the PSNR
    range both cover)."""
    lines = []
    for label, (codec, per_image) in PER_IMAGE.items():
        anchor = {im: ([b for _, b, _ in pts], [q for _, _, q in pts])
                  for im, pts in per_image.items()}
        for curve in sorted({r["curve"] for r in rows
                             if r["kind"] == "inr" and r["codec"] == codec}):
            cells = bd_cells(anchor, curves_by_image(rows, curve))
            if cells:
                lines.append(f"| {curve} | {label} | {cells} |")
    return lines


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return
    if len(sys.argv) != 2:
        print("usage: coolchic_published.py STORE (a results database or its JSON export)",
              file=sys.stderr)
        sys.exit(2)
    try:
        rows = store_rows(sys.argv[1])
    except InrCodecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    lines = published_bd(rows)
    if not lines:
        print("no Cool-chic curve on a full-size image of the published tables")
        return
    print("| curve | against | images | BD-rate % | BD-PSNR dB | per image |")
    print("|---|---|---|---|---|---|")
    print("\n".join(lines))
    print("\nPublished means (Kodak 24, full size, ~10k GPU steps): " + "; ".join(
        f"{p['label']} ({codec}): " + ", ".join(f"lambda {lm:g} {b}/{q}"
                                                for lm, b, q in p["points"])
        for codec, p in MEANS.items()))


if __name__ == "__main__":
    main()
