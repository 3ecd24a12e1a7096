"""Bjontegaard deltas (the `bjontegaard` package) between RD curves.

BD-rate: mean bitrate difference (%) of `test` against `anchor` at equal quality; negative means
`test` needs fewer bits. BD-metric: mean quality difference at equal rate (BD-PSNR for PSNR;
the same integral for MS-SSIM dB, and for LPIPS where negative is better).

The interpolation needs strictly increasing curves, and an INR codec's rate points need not be
(a bigger network can come out worse): each curve is first reduced to its efficient points
(the lower-right hull in rate, upper in quality). LPIPS is negated for the fit so that quality
always rises with rate.

Interpolation: Akima, as Herglotz et al. recommend, unless its interpolant of either curve is not
monotone; then both curves of the pair use PCHIP, which keeps a monotone curve monotone. Akima
through three or four unevenly spaced points can dip far below the data (a 0.67 -> 2.15 bpp
segment through 0.27 bpp), and its BD-rate then has the wrong sign; a well-sampled curve keeps
Akima's number. `BDResult.method` says which was used.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

METHOD = "akima"
FALLBACK = "pchip"


@dataclass
class BDResult:
    bd_rate: float  # %, nan when the curves do not overlap or have < 2 efficient points
    bd_metric: float  # metric units, nan likewise
    overlap: float  # fraction of the joint quality range both curves cover (0..1)
    method: str = METHOD  # the interpolation used: METHOD, or FALLBACK where METHOD misbehaves


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


def _akima_monotone(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether Akima's interpolant of increasing (x, y) rises over x's range, both ways round
    (BD-rate fits log-rate over quality, BD-metric quality over log-rate)."""
    if len(x) < 3:  # two points: the package interpolates linearly
        return True
    from scipy.interpolate import Akima1DInterpolator

    for u, v in ((x, y), (y, x)):
        grid = np.linspace(u[0], u[-1], 512)
        # a dip, not rounding noise on a flat stretch
        if np.any(np.diff(Akima1DInterpolator(u, v)(grid)) < -1e-9 * (v[-1] - v[0])):
            return False
    return True


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

    method = METHOD if all(_akima_monotone(np.log10(r), q) for r, q in ((ra, qa), (rt, qt))) \
        else FALLBACK
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rate = bjontegaard.bd_rate(ra, qa, rt, qt, method=method,
                                       require_matching_points=False, min_overlap=0)
            metric = bjontegaard.bd_psnr(ra, qa, rt, qt, method=method,
                                         require_matching_points=False, min_overlap=0)
        except ValueError:
            return BDResult(math.nan, math.nan, overlap, method)
    return BDResult(float(rate), sign * float(metric), overlap, method)
