"""Numbers a report states: BD-rate / BD-metric tables, the best loss per metric, timings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .bdrate import bd
from .curves import HIGHER_IS_BETTER, METRICS, Curve, anchor_loss


@dataclass
class BDRow:
    architecture: str
    metric: str
    loss: str
    anchor: str
    bd_rate: float
    bd_metric: float
    overlap: float
    method: str  # the interpolation behind the numbers (bdrate.METHOD or its fallback)


# ---------------------------------------------------------------------------------------------
# numbers


def bd_table(curves: list[Curve], metrics: tuple[str, ...] = METRICS) -> list[BDRow]:
    """Each loss of each architecture against that architecture's MSE loss and each baseline."""
    rows: list[BDRow] = []
    base = [c for c in curves if c.kind == "baseline"]
    for arch in sorted({c.architecture for c in curves if c.kind == "inr"}):
        inr = [c for c in curves if c.kind == "inr" and c.architecture == arch]
        anchor_name = anchor_loss([c.loss for c in inr])
        anchors = [c for c in inr if c.loss == anchor_name] + base
        for metric in metrics:
            for test in inr:
                for a in anchors:
                    if a is test:
                        continue
                    r = bd(*a.series(metric), *test.series(metric), HIGHER_IS_BETTER[metric])
                    label = a.loss if a.kind == "inr" else a.label
                    rows.append(BDRow(arch, metric, test.loss, label, r.bd_rate, r.bd_metric,
                                      r.overlap, r.method))
    return rows


def findings(curves: list[Curve], bd_rows: list[BDRow],
             metrics: tuple[str, ...] = METRICS) -> list[dict[str, Any]]:
    """Per architecture and metric: the loss with the lowest BD-rate against the MSE anchor
    (the anchor counts as 0 %) and its margin over the runner-up, in percentage points."""
    out = []
    for arch in sorted({c.architecture for c in curves if c.kind == "inr"}):
        losses = [c.loss for c in curves if c.kind == "inr" and c.architecture == arch]
        anchor = anchor_loss(losses)
        for metric in metrics:
            scores = {anchor: 0.0} if anchor else {}
            for r in bd_rows:
                if (r.architecture == arch and r.metric == metric and r.anchor == anchor
                        and math.isfinite(r.bd_rate)):
                    scores[r.loss] = r.bd_rate
            ranked = sorted(scores.items(), key=lambda kv: kv[1])
            row: dict[str, Any] = {"architecture": arch, "metric": metric, "anchor": anchor or "",
                                   "losses_compared": len(ranked)}
            if anchor is None or len(ranked) < 2:
                note = ("no mse/rmse curve to compare against" if anchor is None else
                        "no BD-rate: metric not measured or curves do not overlap")
                row.update(best_loss="", bd_rate_vs_anchor=math.nan, margin_pp=math.nan,
                           runner_up="", note=note)
            else:
                row.update(best_loss=ranked[0][0], bd_rate_vs_anchor=ranked[0][1],
                           runner_up=ranked[1][0], margin_pp=ranked[1][1] - ranked[0][1],
                           note="")
            out.append(row)
    return out


def timing(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["status"] == "done":
            groups.setdefault(r["curve"], []).append(r)
    out = []
    for curve, rs in sorted(groups.items(), key=lambda kv: (kv[1][0]["kind"] != "inr", kv[0])):
        # rows converted from older result files may lack a size or a timing: None, not a crash
        pixels = _known([r["width"] * r["height"] if r["width"] and r["height"] else None
                         for r in rs])
        enc = _known([r["encode_seconds"] for r in rs])
        dec = _known([r["decode_seconds"] for r in rs])
        out.append({
            "curve": curve, "kind": rs[0]["kind"], "jobs": len(rs),
            "mean_pixels": _stat(np.mean, pixels),
            "encode_s_mean": _stat(np.mean, enc), "encode_s_max": _stat(np.max, enc),
            "decode_s_mean": _stat(np.mean, dec), "decode_s_max": _stat(np.max, dec),
            "devices": ",".join(sorted({str(r["device_used"]) for r in rs})),
            "threads": ",".join(sorted({str(r["threads"]) for r in rs if r["threads"]})),
            "hosts": ",".join(sorted({str(r["host"]) for r in rs if r["host"]})),
        })
    return out


def _known(values: list[Any]) -> list[float]:
    return [float(v) for v in values if v is not None]


def _stat(fn: Any, values: list[float]) -> float | None:
    return float(fn(values)) if values else None
