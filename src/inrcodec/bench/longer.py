"""Do the loss study's rankings hold when training is twice as long? (`-x2` architectures)

A store holds an architecture A and, on fewer images and rate points, its twice-as-long runs
"A-x2". Each comparison of a loss against another (PSNR, MS-SSIM dB, LPIPS) is measured twice
on the images and rate points both have: at the normal length on A's rows at the x2 runs' rate
points, and on A-x2's rows. A curve of two or more points per image gives a per-image BD-rate;
a single point (NIF's one network) gives the metric difference at that point, where the rate is
the network's and barely moves with the loss. A comparison "holds" when the better loss stays
the better one, "flips" when it changes, and is "level" when both lengths call it a tie (BD-rate
within LEVEL_BD percent, or a difference within LEVEL_DIFF); one tie and one winner is
"unclear". A ranking that flips with training length is about optimisation, not the loss.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from .curves import HIGHER_IS_BETTER
from .perimage import bd_spread

METRICS = ("psnr", "msssim_db", "lpips")
LEVEL_BD = 1.0  # percent
LEVEL_DIFF = {"psnr": 0.05, "msssim_db": 0.05, "lpips": 0.0005}
SUFFIX = "-x2"


def _score(rows: list[dict[str, Any]], test: str, anchor: str, metric: str,
           images: list[str]) -> tuple[str, float]:
    """("bd", mean BD-rate %) or ("diff", mean test - anchor) over the images; nan if none.
    Both are signed so that negative means the test is better."""
    spread = bd_spread(rows, test, anchor, metric, images)
    if spread.n:
        return "bd", spread.mean
    sign = -1.0 if HIGHER_IS_BETTER[metric] else 1.0
    diffs = []
    for image in images:
        t = [r[metric] for r in rows if r["curve"] == test and r["image"] == image]
        a = [r[metric] for r in rows if r["curve"] == anchor and r["image"] == image]
        if len(t) == 1 and len(a) == 1 and t[0] is not None and a[0] is not None:
            diffs.append(sign * (t[0] - a[0]))
    return "diff", statistics.fmean(diffs) if diffs else math.nan


def _level(kind: str, value: float, metric: str) -> bool:
    return abs(value) <= (LEVEL_BD if kind == "bd" else LEVEL_DIFF[metric])


def verdict(kind: str, normal: float, longer: float, metric: str) -> str:
    if not (math.isfinite(normal) and math.isfinite(longer)):
        return "unclear"
    tie = (_level(kind, normal, metric), _level(kind, longer, metric))
    if all(tie):
        return "level"
    if any(tie):
        return "unclear"
    return "holds" if (normal < 0) == (longer < 0) else "flips"


def rankings(rows: list[dict[str, Any]], pairs: list[tuple[str, str]] | None = None
             ) -> list[dict[str, Any]]:
    """One row per (architecture, test loss, anchor loss, metric) that has twice-as-long runs.
    `pairs` (test, anchor) defaults to every loss against mse."""
    done = [r for r in rows if r["status"] == "done" and r["kind"] == "inr"]
    arches = sorted({r["architecture"] for r in done})
    out = []
    for long_arch in (a for a in arches if a.endswith(SUFFIX)):
        arch = long_arch[: -len(SUFFIX)]
        longer = [r for r in done if r["architecture"] == long_arch]
        losses = sorted({r["loss"] for r in longer})
        points = {(r["loss"], r["rate_json"]) for r in longer}
        images = sorted({r["image"] for r in longer}
                        & {r["image"] for r in done if r["architecture"] == arch})
        # the normal-length rows at the longer runs' rate points, relabelled to compare alike
        normal = [r for r in done if r["architecture"] == arch
                  and (r["loss"], r["rate_json"]) in points]
        for test, anchor in pairs or [(loss, "mse") for loss in losses if loss != "mse"]:
            if test not in losses or anchor not in losses:
                continue
            for metric in METRICS:
                kind, a = _score(normal, f"{arch}|{test}", f"{arch}|{anchor}", metric, images)
                kind2, b = _score(longer, f"{long_arch}|{test}", f"{long_arch}|{anchor}", metric,
                                  images)
                out.append({"architecture": arch, "test": test, "anchor": anchor,
                            "metric": metric, "measure": kind, "images": len(images),
                            "normal": a, "longer": b,
                            "verdict": verdict(kind, a, b, metric) if kind == kind2
                            else "unclear"})
    return out


def describe(row: dict[str, Any]) -> str:
    unit = " %" if row["measure"] == "bd" else ""
    what = "BD-rate" if row["measure"] == "bd" else "difference (negative: test better)"
    return (f"{row['architecture']} {row['test']} vs {row['anchor']} ({row['metric']}, {what}): "
            f"{row['normal']:+.3g}{unit} -> {row['longer']:+.3g}{unit} at twice the training, "
            f"{row['verdict']} ({row['images']} images)")
