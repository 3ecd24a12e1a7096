"""The shared overfitting loop: any optimiser, per-step schedule, best-so-far, progress reports.

`train` is the one keep-best loop; `optimize` is its common case (Adam(W) on
loss(render(), target)); `BestState` keeps a best state across several runs (restarts, rounds);
`seeded` is how the codecs seed torch; `time_limit` sets a deadline that every loop run inside
it obeys (an encode with a time budget stops training there and keeps its best state) and,
optionally, a time share per planned step: each loop then runs for `steps` times that many
seconds, its schedule following the clock (step = steps x elapsed / its time), so that every
phase of a recipe gets its planned share of the budget however fast the machine is.

The loss is measured before each update, so the state saved with a loss is the one that
produced it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch

from .codecs.base import Progress, ProgressFn
from .losses import Loss

State = dict[str, torch.Tensor]
# step (0-based) -> (loss to minimise, prediction for the progress PSNR or None)
Objective = Callable[[int], tuple[torch.Tensor, torch.Tensor | None]]
# (step, optimiser) -> None: sets each parameter group's lr before the step's update
Schedule = Callable[[int, torch.optim.Optimizer], None]
OptimizerFactory = Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]
# (step, optimiser) -> stop?: called when `patience` scores went by without a new best
PlateauFn = Callable[[int, torch.optim.Optimizer], bool]
# (step, prediction) -> the number a step is scored by instead of its loss (lower is better)
ScoreFn = Callable[[int, torch.Tensor | None], float]


@dataclass
class FitLog:
    steps: int  # optimiser steps run (fewer than asked when the loss stopped being finite)
    best_loss: float  # lowest score seen (inf if none)
    final_loss: float  # the last loss measured (not finite when the run diverged)
    seconds: float
    best_state: State | None = None  # the state that scored best_loss, with return_best


def seeded(seed: int, *, private: bool = False) -> torch.Generator:
    """Seed torch's global generator (what initialisers draw from) and return it; with
    `private`, a fresh CPU generator instead, leaving the global stream untouched."""
    if private:
        return torch.Generator().manual_seed(seed)
    return torch.manual_seed(seed)


@contextmanager
def deterministic() -> Iterator[None]:
    """Torch's deterministic kernels while inside: an encode run again with the same seed and
    thread count writes the same bytes (several threads otherwise accumulate the backward of
    gathers and indexed adds in a racy order, and training amplifies the last-bit noise)."""
    was = torch.are_deterministic_algorithms_enabled()
    warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=warn)


_DEADLINE: ContextVar[float | None] = ContextVar("inrcodec_deadline", default=None)
_STEP_SECONDS: ContextVar[float | None] = ContextVar("inrcodec_step_seconds", default=None)
_END: ContextVar[float | None] = ContextVar("inrcodec_end", default=None)


@contextmanager
def time_limit(deadline: float | None, step_seconds: float | None = None,
               end: float | None = None) -> Iterator[None]:
    """Training loops run inside stop at `deadline` (a time.perf_counter() value; None: no
    limit), keeping their best state. With `step_seconds`, a loop of `steps` planned steps
    runs on the clock for steps * step_seconds seconds (see the module docstring). `end` is
    when the whole encode must be done: searches after training (quantisation steps) cut
    themselves short past it (`past_end`)."""
    tokens = _DEADLINE.set(deadline), _STEP_SECONDS.set(step_seconds), _END.set(end)
    try:
        yield
    finally:
        _DEADLINE.reset(tokens[0])
        _STEP_SECONDS.reset(tokens[1])
        _END.reset(tokens[2])


def encode_end() -> float | None:
    """When the encode in progress must be done (None: no budget)."""
    return _END.get()


def out_of_time() -> bool:
    deadline = _DEADLINE.get()
    return deadline is not None and time.perf_counter() >= deadline


def psnr_float(pred: torch.Tensor, target: torch.Tensor) -> float:
    mse = float((pred.detach().clamp(0, 1) - target).square().mean())
    return 99.0 if mse <= 1e-10 else -10.0 * math.log10(mse)


class BestState:
    """The lowest loss offered so far and a copy of the module's state that produced it."""

    def __init__(self, module: torch.nn.Module, keep: bool = True) -> None:
        self.module, self.keep = module, keep  # keep=False: track the loss, copy nothing
        self.loss = math.inf
        self.state: State | None = None

    def snapshot(self) -> State:
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()}

    def offer(self, loss: float, state: State | None = None) -> bool:
        """Record `loss` if it beats the best (NaN never does); its state is `state`, or a
        copy of the module's state now. Returns whether it was a new best."""
        if not loss < self.loss:
            return False
        self.loss = loss
        if self.keep:
            self.state = self.snapshot() if state is None else state
        return True

    def restore(self) -> bool:
        """Load the best state into the module (in place: optimisers keep their parameters);
        False when there is none."""
        if self.state is None:
            return False
        self.module.load_state_dict(self.state)
        return True


def lr_multiplier(factor: Callable[[int], float]) -> Schedule:
    """A schedule setting each group's lr to its first lr times factor(step), as LambdaLR
    does (same product, so the same floats)."""

    def apply(step: int, opt: torch.optim.Optimizer) -> None:
        f = factor(step)
        for group in opt.param_groups:
            group["lr"] = group.setdefault("initial_lr", group["lr"]) * f

    return apply


def clip_gradients(opt: torch.optim.Optimizer, max_norm: float) -> None:
    """Clip the global L2 norm of the gradients of opt's parameters to max_norm (0: off), in
    one foreach pass."""
    if max_norm > 0:
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)


def train(
    module: torch.nn.Module,
    objective: Objective,
    optimizer: torch.optim.Optimizer | OptimizerFactory,
    steps: int,
    *,
    schedule: Schedule | None = None,
    grad_clip: float = 0.0,
    keep_best: bool = True,
    window: int = 1,
    score: ScoreFn | None = None,
    validate: Callable[[], float] | None = None,
    validate_every: int = 100,
    patience: int = 0,
    reload_best: bool = True,
    on_plateau: PlateauFn | None = None,
    return_best: bool = False,
    phase: str = "fit",
    progress: ProgressFn | None = None,
    target: torch.Tensor | None = None,
    offset: int = 0,
    total: int | None = None,
    evaluate: Callable[[], float] | None = None,
    eval_every: int = 1,
) -> FitLog:
    """Run `steps` optimiser steps on objective(step) and keep the best state of `module`.

    Each step: schedule(step, opt); zero the gradients; loss, pred = objective(step); stop if
    the loss is not finite; score it; backward; clip the gradients' global L2 norm to
    `grad_clip` (0: off); opt.step(); report Progress(phase, offset + step + 1, total or
    steps, loss, PSNR of pred against `target`).

    Scores: with window=1 every step's loss; with window=k the mean loss of each k
    consecutive steps (one optimiser step per sub-batch, e.g. per sub-image), credited to
    the state at the window's first step; with `score`, score(step, pred) instead of the
    loss (e.g. a squared error, to keep the best PSNR whatever the loss; best_loss is then
    the best score); with `validate`, the state after every `validate_every`-th update (and
    after the last) is scored by validate() instead (e.g. the loss with the latents rounded,
    as Cool-chic 1.0 validates every 100 steps), and patience counts those scores. With
    keep_best the module ends holding the best scored state (also after a non-finite loss).
    With patience=n, after n scores without a new best the best state is reloaded
    (reload_best) and on_plateau(step, opt) may change the optimiser (lower its rates) or
    return True to stop. Inside `time_limit`, the loop
    stops before a step that would start after the deadline, and with a time share per step
    it runs on the clock: `step` (what schedule, objective and progress see) is
    steps x elapsed / (steps x share), repeated or skipped as the machine is fast or slow.

    With `evaluate`, the scores are not the training losses but evaluate() (the real objective,
    e.g. on rounded latents), called before the update every `eval_every` iterations from the
    first and once more on the final state; patience then counts evaluations.

    `optimizer` is an optimiser over the module's parameters, or a factory called with the
    trainable ones.
    """
    if window < 1:
        raise ValueError("window must be >= 1")
    if evaluate is not None and (window != 1 or eval_every < 1 or validate is not None):
        raise ValueError("evaluate needs window == 1, eval_every >= 1 and no validate")
    if not isinstance(optimizer, torch.optim.Optimizer):
        optimizer = optimizer([p for p in module.parameters() if p.requires_grad])
    opt = optimizer
    best = BestState(module, keep=keep_best or (patience > 0 and reload_best))
    value, run, stale = math.inf, 0, 0
    window_sum, window_state = 0.0, None
    t0 = time.perf_counter()
    share = _STEP_SECONDS.get()
    seconds = None if share is None or steps == 0 else steps * share
    i = 0
    while True:
        if seconds is None:
            if i >= steps:
                break
            step = i
        else:
            frac = (time.perf_counter() - t0) / seconds
            if frac >= 1.0:
                break
            step = min(steps - 1, int(frac * steps))
        i += 1
        if out_of_time():
            break
        if schedule is not None:
            schedule(step, opt)
        opt.zero_grad(set_to_none=True)
        loss, pred = objective(step)
        value = float(loss.detach())
        if not math.isfinite(value):
            break  # diverged: keep the best state seen so far
        scored = validate is None and evaluate is None and (step + 1) % window == 0
        improved = False
        if evaluate is not None:
            if (i - 1) % eval_every == 0:
                scored = True
                with torch.no_grad():
                    improved = best.offer(evaluate())
        else:
            mark = value if score is None else score(step, pred)
            if window > 1:
                if step % window == 0:
                    window_sum = 0.0
                    window_state = best.snapshot() if best.keep else None
                window_sum += mark
            if scored:  # before the update: the saved state is the one that produced the score
                improved = best.offer(mark if window == 1 else window_sum / window, window_state)
        loss.backward()
        clip_gradients(opt, grad_clip)
        opt.step()
        run = i
        if validate is not None and ((step + 1) % validate_every == 0 or step + 1 == steps):
            scored, improved = True, best.offer(validate())  # the state after the update
        if progress is not None:
            psnr = None if pred is None or target is None else psnr_float(pred, target)
            progress(Progress(phase, offset + step + 1, total or steps, value, psnr))
        if scored and patience > 0:
            stale = 0 if improved else stale + 1
            if stale >= patience:
                stale = 0
                if reload_best:
                    best.restore()
                if on_plateau is not None and on_plateau(step, opt):
                    break
    if evaluate is not None and run > 0:
        with torch.no_grad():
            best.offer(evaluate())
    if keep_best:
        best.restore()
    return FitLog(run, best.loss, value, time.perf_counter() - t0,
                  best.state if return_best else None)


OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


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
    lr_factor: Callable[[int], float] | None = None,
    phase: str = "fit",
    progress: ProgressFn | None = None,
    keep_best: bool = True,
    return_best: bool = False,
    offset: int = 0,
    total: int | None = None,
) -> FitLog:
    """Minimise loss(render(), target) over module's trainable parameters with a fresh Adam or
    AdamW, lr times lr_factor(step) at each step (warm-up, decay, ...); see `train`."""
    params = [p for p in module.parameters() if p.requires_grad]
    opt = OPTIMIZERS[optimizer](params, lr=lr, weight_decay=weight_decay)

    def objective(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        pred = render()
        return loss(pred, target), pred

    return train(module, objective, opt, steps,
                 schedule=None if lr_factor is None else lr_multiplier(lr_factor),
                 keep_best=keep_best, return_best=return_best, phase=phase, progress=progress,
                 target=target, offset=offset, total=total)
