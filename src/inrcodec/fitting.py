"""The shared overfitting loop: Adam(W), optional cosine decay, best-so-far, progress reports."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .codecs.base import Progress, ProgressFn
from .losses import Loss


@dataclass
class FitLog:
    steps: int
    best_loss: float
    final_loss: float
    seconds: float


def psnr_float(pred: torch.Tensor, target: torch.Tensor) -> float:
    mse = float((pred.detach().clamp(0, 1) - target).square().mean())
    return 99.0 if mse <= 1e-10 else -10.0 * math.log10(mse)


def optimize(
    module: torch.nn.Module,
    render: Callable[[], torch.Tensor],
    target: torch.Tensor,
    loss: Loss,
    steps: int,
    lr: float,
    *,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    cosine: bool = False,
    lr_factor: Callable[[int], float] | None = None,
    phase: str = "fit",
    progress: ProgressFn | None = None,
    keep_best: bool = True,
) -> FitLog:
    """Minimise loss(render(), target) over module's parameters for `steps` steps.

    With keep_best the module ends holding the parameters that gave the lowest loss seen
    (the loss is measured before each update, so the saved copy is the one that produced it).
    """
    params = [p for p in module.parameters() if p.requires_grad]
    opt_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optimizer]
    opt = opt_cls(params, lr=lr, weight_decay=weight_decay)
    if lr_factor is not None:  # multiplier of lr at each step (warm-up, decay, ...)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    elif cosine:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    else:
        sched = None
    best, best_state, value = math.inf, None, math.inf
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        opt.zero_grad(set_to_none=True)
        pred = render()
        value_t = loss(pred, target)
        value = float(value_t.detach())
        if not math.isfinite(value):
            break  # diverged: keep the best parameters seen so far
        if keep_best and value < best:
            best = value
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        value_t.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if progress is not None:
            progress(Progress(phase, step, steps, value, psnr_float(pred, target)))
    if keep_best and best_state is not None:
        module.load_state_dict(best_state)
    return FitLog(steps, min(best, value), value, time.perf_counter() - t0)
