"""Training losses by name, and weighted sums of them ("0.8*l1+0.2*ssim").

Every loss takes (pred, target) as [N, C, H, W] tensors with values on [0, 1] and returns a
scalar. With d = pred - target:

    l1       mean |d|
    mse      mean d^2
    rmse     sqrt(mean d^2)
    logcosh  mean(d + softplus(-2 d) - ln 2) (a numerically stable log(cosh(d)))
    ssim     1 - SSIM                       (Gaussian window, data range 1)
    msssim   1 - MS-SSIM                    (window and levels shrink for small images)
    lcssim   logcosh + 0.01 (1 - SSIM)      (NIF's default; the NIF fork's logcosh_ssim)
    l1ssim   0.8 l1 + 0.2 (1 - SSIM)

The ICIP 2024 loss study's reference code defines its composites per codec, and the study
uses those definitions (README, Losses):

    cc_lcssim   (logcosh + 0.01 (1 - SSIM)) / 2   the Cool-chic forks average the weighted
    cc_l1ssim   (0.8 l1 + 0.2 (1 - SSIM)) / 2     terms of a composite (torch.cat().mean())
    nif_l1ssim  l1 + 0.01 (1 - SSIM)              the NIF fork sums them; its l1_ssim

`mse` is both forks' l2 (the mean of squares); `rmse` is the paper's Eq. 5. NIF's fork trains
on images mapped to [-1, 1]: inside `value_scale(2.0)` the pointwise terms (l1, mse, rmse,
logcosh) see d = 2 (pred - target), exactly what they compute on the mapped images, while
SSIM (invariant to the mapping with its data range) is unchanged.

Plugins add terms with `register` (see `plugins`). A term that needs more than the two images
(a segmentation reference, say) has a `bind(context)` method; `WeightedSum.bind` hands it the
context of the image being coded (for example its labels) and gets back a plain loss.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
import torch.nn.functional as F

from .errors import ConfigError
from .plugins import load_plugins
from .ssim import ms_ssim, ssim

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_LN2 = math.log(2.0)
_SCALE: ContextVar[float] = ContextVar("inrcodec_loss_value_scale", default=1.0)


@contextmanager
def value_scale(scale: float) -> Iterator[None]:
    """Pointwise terms evaluated inside see (pred - target) * scale: 2.0 is the loss on images
    mapped from [0, 1] to [-1, 1] (NIF's reference), SSIM terms are unaffected."""
    token = _SCALE.set(float(scale))
    try:
        yield
    finally:
        _SCALE.reset(token)


def _diff(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    d = pred - target
    s = _SCALE.get()
    return d if s == 1.0 else d * s


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return _diff(pred, target).abs().mean()


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return _diff(pred, target).square().mean()


def rmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The ICIP 2024 paper's Eq. 5: sqrt(mean d^2)."""
    # eps keeps the gradient finite at a perfect fit
    return torch.sqrt(_diff(pred, target).square().mean() + 1e-12)


def logcosh(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    d = _diff(pred, target)
    return (d + F.softplus(-2.0 * d) - _LN2).mean()


def ssim_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 1.0 - ssim(pred, target)


def msssim_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 1.0 - ms_ssim(pred, target)


def lcssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return logcosh(pred, target) + 0.01 * ssim_loss(pred, target)


def l1ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 0.8 * l1(pred, target) + 0.2 * ssim_loss(pred, target)


def cc_lcssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The Cool-chic forks' "log_cosh:1.0+ssim:0.01": the mean of the two weighted terms."""
    return 0.5 * (logcosh(pred, target) + 0.01 * ssim_loss(pred, target))


def cc_l1ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The Cool-chic forks' "l1:0.8+ssim:0.2": the mean of the two weighted terms."""
    return 0.5 * (0.8 * l1(pred, target) + 0.2 * ssim_loss(pred, target))


def nif_l1ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The NIF fork's l1_ssim (its Kodak loss ablation): l1 + 0.01 (1 - SSIM), summed."""
    return l1(pred, target) + 0.01 * ssim_loss(pred, target)


LOSSES: dict[str, Loss] = {
    "l1": l1, "mse": mse, "rmse": rmse, "logcosh": logcosh, "ssim": ssim_loss,
    "msssim": msssim_loss, "lcssim": lcssim, "l1ssim": l1ssim,
    "cc_lcssim": cc_lcssim, "cc_l1ssim": cc_l1ssim, "nif_l1ssim": nif_l1ssim,
}
BUILTIN_LOSSES = tuple(LOSSES)  # the terms above; plugins add theirs to LOSSES

# what each built-in term computes, in words (reports print it beside the curves)
DEFINITIONS: dict[str, str] = {
    "l1": "mean |d|",
    "mse": "mean d² (both forks' l2)",
    "rmse": "sqrt(mean d²) (the paper's Eq. 5)",
    "logcosh": "mean log cosh d",
    "ssim": "1 − SSIM",
    "msssim": "1 − MS-SSIM",
    "lcssim": "logcosh + 0.01 (1 − SSIM), summed (NIF's default)",
    "l1ssim": "0.8 l1 + 0.2 (1 − SSIM)",
    "cc_lcssim": "(logcosh + 0.01 (1 − SSIM)) / 2: the Cool-chic forks average the weighted terms",
    "cc_l1ssim": "(0.8 l1 + 0.2 (1 − SSIM)) / 2: the Cool-chic forks average the weighted terms",
    "nif_l1ssim": "l1 + 0.01 (1 − SSIM), summed (the NIF fork's l1_ssim)",
}


def describe_loss(spec: str) -> str:
    """A loss expression in words: 'mse' -> its definition, '0.8*l1+0.2*ssim' -> each weighted
    term's definition. d = pred − target on images in [0, 1]."""
    try:
        terms = parse_loss(spec).terms
    except ConfigError:
        return "unknown loss"
    plugin = "a plugin's term"
    if len(terms) == 1 and terms[0][0] == 1.0:
        return DEFINITIONS.get(terms[0][1], plugin)
    return " + ".join(f"{w:g} × {n} ({DEFINITIONS.get(n, plugin)})" for w, n in terms)


def register(name: str, fn: Loss) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"bad loss name {name!r}")
    LOSSES[name] = fn


class WeightedSum:
    """A parsed loss expression; `terms` keeps (weight, name) for reporting."""

    def __init__(self, terms: list[tuple[float, str]],
                 fns: dict[str, Loss] | None = None) -> None:
        self.terms = terms
        fns = fns or {}
        # zero-weight terms are skipped, not multiplied by 0 ("mse+0*sinco" is exactly mse)
        self._fns = [(w, fns.get(n, LOSSES[n])) for w, n in terms if w != 0]

    @property
    def uses_context(self) -> bool:
        """Whether some term reads the image's context (see `bind`)."""
        return any(hasattr(LOSSES[n], "bind") for _, n in self.terms)

    def bind(self, context: Mapping[str, Any]) -> WeightedSum:
        """The same sum with every context-dependent term bound to `context`."""
        bound = {n: LOSSES[n].bind(context) for _, n in self.terms
                 if hasattr(LOSSES[n], "bind")}
        return WeightedSum(self.terms, bound)

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not self._fns:
            return (pred * 0).sum()
        total = None
        for w, fn in self._fns:
            value = fn(pred, target)
            total = w * value if total is None else total + w * value
        return total

    def __str__(self) -> str:
        return "+".join(n if w == 1.0 else f"{w:g}*{n}" for w, n in self.terms)


_TERM = re.compile(r"^\s*(?:([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*\*\s*)?([a-z][a-z0-9_]*)\s*$")


def parse_loss(spec: str) -> WeightedSum:
    """'mse', 'l1ssim' or a weighted sum like '0.8*l1+0.2*ssim' -> callable loss."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("empty loss specification")
    terms = []
    for part in spec.lower().split("+"):
        m = _TERM.match(part)
        if not m:
            raise ConfigError(f"cannot parse loss term {part.strip()!r} in {spec!r} "
                              "(expected e.g. '0.8*l1+0.2*ssim')")
        weight = float(m.group(1)) if m.group(1) else 1.0
        name = m.group(2)
        if name not in LOSSES:
            load_plugins()
        if name not in LOSSES:
            raise ConfigError(f"unknown loss {name!r} (known: {', '.join(sorted(LOSSES))})")
        terms.append((weight, name))
    return WeightedSum(terms)
