"""BD-rates image by image, and their spread: how much a mean BD-rate owes to one image.

The report's BD-rates compare curves averaged over the images; here each image gets its own
curves (seeds averaged) and its own BD-rate, and a comparison is summarised by the mean,
standard deviation, minimum and maximum over the images, and how many images favour the test.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from .bdrate import bd
from .curves import HIGHER_IS_BETTER, METRICS, Curve, anchor_loss, build_curves, common_images


@dataclass
class Spread:
    test: str  # curve labels
    anchor: str
    metric: str
    per_image: dict[str, float] = field(default_factory=dict)  # image -> BD-rate (%)

    @property
    def values(self) -> list[float]:
        return [v for v in self.per_image.values() if math.isfinite(v)]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    @property
    def sd(self) -> float:
        return statistics.stdev(self.values) if self.n > 1 else math.nan

    @property
    def favouring(self) -> int:
        """Images where the test needs fewer bits than the anchor."""
        return sum(v < 0 for v in self.values)

    def describe(self) -> str:
        if not self.n:
            return f"{self.test} vs {self.anchor} ({self.metric}): no BD-rate"
        head = f"{self.test} vs {self.anchor} ({self.metric}): {self.mean:+.1f} % "
        if self.n == 1:  # no spread to give
            return head + f"(1 image, {'' if self.favouring else 'not '}in favour of the test)"
        return (head + f"(sd {self.sd:.1f}, {min(self.values):+.1f}..{max(self.values):+.1f}, "
                f"{self.favouring}/{self.n} images favour the test)")


def _restrict(curve: Curve, bpp: tuple[float, float] | None) -> Curve:
    """The curve's points inside a bpp range, with the nearest point outside on each side (so
    that the interpolation covers the range's ends)."""
    if bpp is None:
        return curve
    lo, hi = bpp
    pts = curve.points
    inside = [p for p in pts if lo <= p.bpp <= hi]
    below = [p for p in pts if p.bpp < lo][-1:]
    above = [p for p in pts if p.bpp > hi][:1]
    return Curve(curve.label, curve.kind, curve.architecture, curve.loss, below + inside + above)


def bd_spread(rows: list[dict[str, Any]], test: str, anchor: str, metric: str,
              images: list[str] | None = None, bpp: tuple[float, float] | None = None) -> Spread:
    """BD-rate (%) of curve `test` against curve `anchor` on each image (default: the images
    both have), optionally on the points within a bpp range."""
    done = [r for r in rows if r["status"] == "done" and r["curve"] in (test, anchor)]
    if images is None:
        images = common_images(done)
    out = Spread(test, anchor, metric)
    for image in images:
        curves = {c.label: c for c in build_curves(done, [image])}
        if test not in curves or anchor not in curves:
            continue
        a, t = _restrict(curves[anchor], bpp), _restrict(curves[test], bpp)
        r = bd(*a.series(metric), *t.series(metric), HIGHER_IS_BETTER[metric])
        out.per_image[image] = r.bd_rate
    return out


def spread_table(rows: list[dict[str, Any]], metrics: tuple[str, ...] = METRICS
                 ) -> list[dict[str, Any]]:
    """Every INR curve against its architecture's MSE curve, image by image."""
    done = [r for r in rows if r["status"] == "done"]
    curves: dict[str, dict[str, str]] = {}
    for r in done:
        if r["kind"] == "inr":
            curves.setdefault(r["architecture"], {})[r["loss"]] = r["curve"]
    table = []
    for arch, by_loss in sorted(curves.items()):
        anchor = anchor_loss(list(by_loss))
        if anchor is None:
            continue
        for loss, label in sorted(by_loss.items()):
            if loss == anchor:
                continue
            for metric in metrics:
                s = bd_spread(done, label, by_loss[anchor], metric)
                table.append({"architecture": arch, "loss": loss, "anchor": anchor,
                              "metric": metric, "images": s.n, "bd_rate_mean": s.mean,
                              "bd_rate_sd": s.sd,
                              "bd_rate_min": min(s.values) if s.values else math.nan,
                              "bd_rate_max": max(s.values) if s.values else math.nan,
                              "images_favouring": s.favouring})
    return table
