"""Encode to a target bit rate or PSNR by searching the codec's rate setting.

A codec family's rate knob: Cool-chic's `lmbda` (searched on log lambda; rate falls as it
rises), the layer width of SIREN and PE-MLP (rate ~ width^2), a scale of NIF's hidden widths.
The search models the target quantity as linear in the knob's log (bpp as log bpp, PSNR as dB):
short proxy encodes (a quarter of Cool-chic's steps, a tenth of a weight-INR's, which codes
the same network) find the knob by secant steps, then full encodes correct the proxies' bias
until the file lands within the tolerance or the tries run out (once full encodes lie on both
sides of the target, the next one interpolates between the nearest two); the closest full
encode wins. Every try is reported in the result's log.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

PROXY_TRIES = 4
FULL_TRIES = 4


@dataclass
class Attempt:
    knob: float  # the knob's value (lambda, a width, a scale)
    bpp: float
    psnr: float
    proxy: bool  # a short proxy encode, not a candidate for the file
    seconds: float


@dataclass(frozen=True)
class Knob:
    name: str
    start: float
    rises_with_rate: bool  # whether bpp and PSNR grow with the knob
    integer: bool
    overrides: Callable[[float], dict[str, Any]]  # knob value -> settings
    lo: float
    hi: float
    slope_bpp: float  # initial guess of d log(bpp) / d log(knob)
    slope_psnr: float  # initial guess of d PSNR (dB) / d log(knob)

    def clamp(self, x: float) -> float:
        x = min(max(x, self.lo), self.hi)
        return float(round(x)) if self.integer else x


def knob_for(codec: str, settings: Any) -> Knob:
    """The rate knob of a codec's settings (ConfigError for a codec without one)."""
    fields = {f.name for f in dataclasses.fields(settings)}
    if "lmbda" in fields:
        return Knob("lmbda", max(settings.lmbda, 1e-6), False, False,
                    lambda x: {"lmbda": x}, 1e-6, 1.0, -0.55, -2.2)
    if codec == "nif":
        hidden = tuple(settings.hidden)

        def scaled(f: float) -> dict[str, Any]:
            return {"hidden": tuple(max(2, round(h * f)) for h in hidden)}

        return Knob("hidden scale", 1.0, True, False, scaled, 0.1, 8.0, 1.7, 6.0)
    if "width" in fields:
        return Knob("width", float(settings.width), True, True,
                    lambda x: {"width": int(x)}, 2.0, 4096.0, 1.9, 7.0)
    raise ConfigError(f"codec {codec!r} has no rate setting to search")


def _proxy_overrides(settings: Any) -> dict[str, Any]:
    fields = {f.name for f in dataclasses.fields(settings)}
    if "iterations" in fields:  # Cool-chic 5-class: a quarter of the budget, no RDOQ
        return {"iterations": max(200, settings.iterations // 4), "rdoq": False}
    if "lmbda" in fields:  # Cool-chic v1, v2
        return {"steps": max(100, settings.steps // 4),
                "ste_steps": max(20, settings.ste_steps // 4), "warmup_candidates": 1}
    out = {"steps": max(50, settings.steps // 10), "qat_steps": 0}
    if "rounds" in fields:
        out["rounds"] = min(settings.rounds, 2)
    return out


def search(encode: Callable[..., Any], codec: str, settings: Any, *,
           target_bpp: float | None = None, target_psnr: float | None = None,
           tolerance: float = 0.05) -> tuple[Any, dict[str, Any]]:
    """Run `encode(**overrides) -> EncodeResult` (with metrics) until the file meets the target;
    returns (the chosen result, the log of the search)."""
    if (target_bpp is None) == (target_psnr is None):
        raise ConfigError("give exactly one of a target bpp and a target PSNR")
    target = target_bpp if target_bpp is not None else target_psnr
    if not (isinstance(target, int | float) and math.isfinite(target) and target > 0):
        raise ConfigError(f"the target must be a positive number, got {target!r}")
    by_bpp = target_bpp is not None
    knob = knob_for(codec, settings)
    goal = math.log(target) if by_bpp else float(target)
    # tolerance on the file: +-5 % of the bpp; for PSNR +-0.05 dB per 1 % (a quarter dB)
    tol = math.log1p(tolerance) if by_bpp else 5 * tolerance
    attempts: list[Attempt] = []

    def measure(r: Any) -> float:
        return math.log(r.bpp) if by_bpp else r.metrics["psnr"]

    def run(x: float, proxy: bool) -> Any:
        t0 = time.perf_counter()
        over = knob.overrides(x) | (_proxy_overrides(settings) if proxy else {})
        r = encode(**over)
        attempts.append(Attempt(x, r.bpp, r.metrics["psnr"], proxy, time.perf_counter() - t0))
        return r

    slope = knob.slope_bpp if by_bpp else knob.slope_psnr
    x = knob.start
    # a weight-INR proxy predicts the rate (it codes the same network) but not the PSNR
    if by_bpp or knob.name == "lmbda":
        points: list[tuple[float, float]] = []
        for _ in range(PROXY_TRIES):
            m = measure(run(x, True))
            points.append((math.log(x), m))
            if abs(m - goal) <= tol / 2:
                break
            slope = _slope(points, slope)
            nxt = _next(knob, x, m, goal, slope, [p[0] for p in points])
            if nxt is None:
                break
            x = nxt
    fulls: list[tuple[float, Any, float]] = []  # (knob, result, measured)
    for _ in range(FULL_TRIES):
        r = run(x, False)
        m = measure(r)
        fulls.append((x, r, m))
        if abs(m - goal) <= tol:
            break
        points = [(math.log(f[0]), f[2]) for f in fulls]
        bracket = _bracket(points, goal)
        if bracket is not None:  # files on both sides: interpolate between the nearest two
            (xa, ma), (xb, mb) = bracket
            between = (mb - ma) / (xb - xa)
            slope = between if between * slope > 0 else slope
            x, m = math.exp(xa), ma
        else:
            slope = _slope(points, slope)
        nxt = _next(knob, x, m, goal, slope, [p[0] for p in points])
        if nxt is None:
            break  # the knob cannot move further (a bound, or an integer width already tried)
        x = nxt
    best_x, best, m = min(fulls, key=lambda f: abs(f[2] - goal))
    achieved = best.bpp if by_bpp else best.metrics["psnr"]
    met = abs(m - goal) <= tol
    log = {"target": {"bpp" if by_bpp else "psnr": target, "tolerance": tolerance},
           "knob": knob.name, "chosen": best_x, "achieved": achieved, "met": met,
           "tries": [dataclasses.asdict(a) for a in attempts]}
    if not met:
        what = f"{achieved:.4f} bpp" if by_bpp else f"{achieved:.2f} dB"
        within = f"{tolerance:.0%}" if by_bpp else f"{tol:.2f} dB"
        warnings.warn(f"target {'bpp' if by_bpp else 'PSNR'} {target:g} not reached within "
                      f"{within}: the closest file has {what} ({knob.name} {best_x:g}, "
                      f"{len(fulls)} full encodes)", RuntimeWarning, stacklevel=2)
    return best, log


def _next(knob: Knob, x: float, measured: float, goal: float, slope: float,
          tried: list[float]) -> float | None:
    """The knob's next value by a secant step from x, or None when it would not move: an
    integer knob steps to its neighbour when the secant rounds back to x."""
    nxt = knob.clamp(math.exp(math.log(x) + (goal - measured) / slope))
    if knob.integer and nxt == x:
        up = (goal > measured) == knob.rises_with_rate
        nxt = knob.clamp(x + (1 if up else -1))
    if any(math.isclose(math.log(nxt), t, abs_tol=1e-12) for t in tried):
        return None
    return nxt


def _bracket(points: list[tuple[float, float]], goal: float
             ) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The nearest (log knob, measured) below and above the goal, if files lie on both sides."""
    below = [p for p in points if p[1] < goal]
    above = [p for p in points if p[1] > goal]
    if not below or not above:
        return None
    return max(below, key=lambda p: p[1]), min(above, key=lambda p: p[1])


def _slope(points: list[tuple[float, float]], prior: float) -> float:
    """Secant slope of the last two points, kept on the prior's side and within a factor 4 of
    it (short noisy fits can give wild secants)."""
    if len(points) < 2 or abs(points[-1][0] - points[-2][0]) < 1e-9:
        return prior
    s = (points[-1][1] - points[-2][1]) / (points[-1][0] - points[-2][0])
    if s * prior <= 0:
        return prior
    lo, hi = sorted((prior / 4, prior * 4))
    return min(max(s, lo), hi)
