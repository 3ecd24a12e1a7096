"""Rows of the result store -> rate-distortion curves averaged over a common image set.

A curve is one codec configuration (an INR architecture with one loss, or a baseline) swept
over its rate points. A point is the mean bpp and mean metric over the images (seeds averaged
first, per image). Curves are compared on the same images only: the image set is the images
that every curve has results for, and a rate point enters a curve only when all of those
images have it, so a half-finished run never mixes different image sets.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

METRICS = ("psnr", "msssim_db", "lpips")
METRIC_LABELS = {"psnr": "PSNR (dB)", "msssim_db": "MS-SSIM (dB)", "lpips": "LPIPS",
                 "ssim": "SSIM", "msssim": "MS-SSIM"}
HIGHER_IS_BETTER = {"psnr": True, "msssim_db": True, "lpips": False, "ssim": True,
                    "msssim": True}
VALUE_KEYS = ("psnr", "ssim", "msssim", "msssim_db", "lpips", "encode_seconds",
              "decode_seconds")


def task_metric_names(rows: list[dict[str, Any]]) -> list[str]:
    """The task metrics some row measured, in first-seen order."""
    names: dict[str, None] = {}
    for r in rows:
        for k in json.loads(r.get("task_metrics_json") or "{}"):
            names[k] = None
    return list(names)


def with_task_metrics(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their task metrics as plain keys (None where a row lacks one), and the
    metrics' labels and directions added to METRIC_LABELS / HIGHER_IS_BETTER."""
    from ..errors import ConfigError
    from ..metrics import task_metric

    names = task_metric_names(rows)
    for name in names:
        try:
            m = task_metric(name)
            METRIC_LABELS.setdefault(name, m.label or name)
            HIGHER_IS_BETTER.setdefault(name, m.higher_is_better)
        except ConfigError:  # measured by a plugin that is not installed here
            METRIC_LABELS.setdefault(name, name)
            HIGHER_IS_BETTER.setdefault(name, True)
    out = []
    for r in rows:
        task = json.loads(r.get("task_metrics_json") or "{}")
        out.append(r | {n: task.get(n) for n in names})
    return out


@dataclass
class Point:
    rate_key: str
    bpp: float
    values: dict[str, float | None]  # metric -> mean (None when some image lacks it)
    images: int


@dataclass
class Curve:
    label: str
    kind: str  # "inr" | "baseline"
    architecture: str  # the INR architecture, or the baseline's own label
    loss: str  # "" for baselines
    points: list[Point] = field(default_factory=list)

    def series(self, metric: str) -> tuple[list[float], list[float]]:
        pts = [p for p in self.points if p.values.get(metric) is not None
               and math.isfinite(p.values[metric])]
        return [p.bpp for p in pts], [p.values[metric] for p in pts]


def _mean(values: list[float | None]) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)


def common_images(rows: list[dict[str, Any]]) -> list[str]:
    by_curve: dict[str, set[str]] = {}
    for r in rows:
        by_curve.setdefault(r["curve"], set()).add(r["image"])
    if not by_curve:
        return []
    return sorted(set.intersection(*by_curve.values()))


def build_curves(rows: list[dict[str, Any]], images: list[str] | None = None,
                 extra: tuple[str, ...] = ()) -> list[Curve]:
    """Curves from `done` rows, averaged over `images` (default: the common image set);
    `extra`: further value keys to average (task metrics)."""
    keys = VALUE_KEYS + tuple(extra)
    rows = [r for r in rows if r["status"] == "done"]
    images = common_images(rows) if images is None else images
    wanted = set(images)
    # curve -> rate point -> image -> [rows over seeds]
    tree: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {}
    meta: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["image"] not in wanted:
            continue
        tree.setdefault(r["curve"], {}).setdefault(r["rate_json"], {}).setdefault(
            r["image"], []).append(r)
        meta[r["curve"]] = r
    curves = []
    for label, by_rate in tree.items():
        m = meta[label]
        curve = Curve(label, m["kind"], m["architecture"], m["loss"] or "")
        for rate_key, by_image in by_rate.items():
            if set(by_image) != wanted:
                continue
            per_image = [_per_image(rs, keys) for rs in by_image.values()]
            values = {k: _mean([p[k] for p in per_image]) for k in keys}
            curve.points.append(Point(rate_key, _mean([p["bpp"] for p in per_image]), values,
                                      len(per_image)))
        curve.points.sort(key=lambda p: p.bpp)
        if curve.points:
            curves.append(curve)
    return sorted(curves, key=lambda c: (c.kind != "inr", c.architecture, c.loss, c.label))


def curve_groups(rows: list[dict[str, Any]], extra: tuple[str, ...] = ()
                 ) -> list[tuple[str, list[str], list[Curve]]]:
    """Per INR architecture: (architecture, images, curves), its curves and the baselines'
    averaged over the images all of them have, so that an architecture still being run (or run
    on fewer images, like a study's twice-as-long runs) does not shrink the others' averages.
    Without INR rows, one group "baselines" over the baselines' common images."""
    done = [r for r in rows if r["status"] == "done"]
    base = [r for r in done if r["kind"] == "baseline"]
    archs = sorted({r["architecture"] for r in done if r["kind"] == "inr"})
    groups = []
    for arch, sel in ([(a, [r for r in done if r["kind"] == "inr" and r["architecture"] == a]
                        + base) for a in archs] or [("baselines", base)]):
        images = common_images(sel)
        groups.append((arch, images, build_curves(sel, images, extra)))
    return groups


def _per_image(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, float | None]:
    return {k: _mean([r.get(k) for r in rows]) for k in ("bpp", *keys)}


def architectures(curves: list[Curve]) -> list[str]:
    return sorted({c.architecture for c in curves if c.kind == "inr"})


def baselines(curves: list[Curve]) -> list[Curve]:
    return [c for c in curves if c.kind == "baseline"]


def anchor_loss(losses: list[str]) -> str | None:
    """The MSE-family loss a study compares every other loss against."""
    for name in ("mse", "rmse"):
        if name in losses:
            return name
    return None
