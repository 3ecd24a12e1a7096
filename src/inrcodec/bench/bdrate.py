"""Bjontegaard deltas (the `bjontegaard` package, Akima interpolation) between RD curves.

BD-rate: mean bitrate difference (%) of `test` against `anchor` at equal quality; negative means
`test` needs fewer bits. BD-metric: mean quality difference at equal rate (BD-PSNR for PSNR;
the same integral for MS-SSIM dB, and for LPIPS where negative is better).

The interpolation needs strictly increasing curves, and an INR codec's rate points need not be
(a bigger network can come out worse): each curve is first reduced to its efficient points
(the lower-right hull in rate, upper in quality). LPIPS is negated for the fit so that quality
always rises with rate.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

METHOD = "akima"


@dataclass
class BDResult:
    bd_rate: float  # %, nan when the curves do not overlap or have < 2 efficient points
    bd_metric: float  # metric units, nan likewise
    overlap: float  # fraction of the joint quality range both curves cover (0..1)


NAN = BDResult(math.nan, math.nan, 0.0)


def efficient(rates: list[float], quality: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Points not dominated by a cheaper point of at least the same quality, by rising rate."""
    pts = sorted(zip(rates, quality, strict=True))
    keep_r, keep_q = [], []
    for r, q in pts:
        if not (math.isfinite(r) and math.isfinite(q)) or r <= 0:
            continue
        if keep_q and q <= keep_q[-1]:
            continue
        if keep_r and r <= keep_r[-1]:  # same rate, better quality: replace
            keep_r.pop()
            keep_q.pop()
        keep_r.append(r)
        keep_q.append(q)
    return np.asarray(keep_r, float), np.asarray(keep_q, float)


def bd(anchor_rate: list[float], anchor_q: list[float], test_rate: list[float],
       test_q: list[float], higher_is_better: bool = True) -> BDResult:
    sign = 1.0 if higher_is_better else -1.0
    ra, qa = efficient(anchor_rate, [sign * q for q in anchor_q])
    rt, qt = efficient(test_rate, [sign * q for q in test_q])
    if len(ra) < 2 or len(rt) < 2:
        return NAN
    lo, hi = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    span = max(qa.max(), qt.max()) - min(qa.min(), qt.min())
    overlap = max(0.0, hi - lo) / span if span > 0 else 0.0
    if overlap <= 0:
        return BDResult(math.nan, math.nan, 0.0)
    import bjontegaard

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rate = bjontegaard.bd_rate(ra, qa, rt, qt, method=METHOD,
                                       require_matching_points=False, min_overlap=0)
            metric = bjontegaard.bd_psnr(ra, qa, rt, qt, method=METHOD,
                                         require_matching_points=False, min_overlap=0)
        except ValueError:
            return BDResult(math.nan, math.nan, overlap)
    return BDResult(float(rate), sign * float(metric), overlap)
