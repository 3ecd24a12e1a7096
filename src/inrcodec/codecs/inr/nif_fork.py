"""NIF's training recipe as its reference code runs it (INRAnalysis-ICIP24/nif, the ICIP 2024
loss study's fork of NIF): `schedule = "fork"`.

Where it differs from `nif.NIFCodec`'s default rounds:
  * one optimiser step per 2x2 sub-image: each iteration renders and steps the four
    sub-images of the pixel_unshuffle split in turn (phases/training.py calls
    optimizer.step() per patch), so 10 x 150 iterations are 6,000 updates;
  * one AdamW per phase, created once and surviving the restarts (its moments too), with the
    learning-rate schedule continuing across rounds: each round is a warm-up and a linear
    decay to eta_min whose peak is lr * peak_decay^round (CustomScheduler's peak_decay_factor);
  * a round's best state is the one with the best PSNR of the image assembled from the
    iteration's four sub-images, whatever the loss (fitting.train's window of four steps,
    scored by the sub-images' mean squared error);
  * restarts perturb every module whose name contains "head" in the reference except those:
    the genesis head and the modulator's first layer (its "modulator.head");
  * QAT: AdamW with its default weight decay (0.01, `qat_weight_decay`) and the same
    per-sub-image steps; after a round that did not beat the best so far, the best state is
    reloaded before the next perturbation (quantize.py).
The reference keeps the state after the iteration's last update for a best score, we keep the
state its score was measured on (one iteration apart).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call

from ...coding.quantize import fake_quantize
from ...compiling import compiled
from ...fitting import BestState, FitLog, seeded, train
from ...losses import Loss, value_scale
from ..base import ProgressFn

Render = Callable[[int, dict[str, torch.Tensor] | None], torch.Tensor]


def fork_skip(name: str) -> bool:
    """Modules the reference's restart leaves alone: its names containing "head" are the
    genesis head and the modulator's first layer (ours: `head`, `modulator.layers.0`)."""
    return name in ("head", "modulator.layers.0")


class _Points(nn.Module):
    """net.points as a module's forward, so functional_call can run it on other parameters."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.net.points(*inputs)


def sub_images(height: int, width: int, p: int) -> list[tuple[int, int]]:
    """The (row, column) offsets of the p x p sub-images in pixel_unshuffle's order."""
    return [(a, b) for a in range(min(p, height)) for b in range(min(p, width))]


def sub_renderer(net: nn.Module, height: int, width: int, p: int,
                 compile_: bool) -> Render:
    """render(k, params) -> [1, C, h_k, w_k]: sub-image k, with the net's parameters or
    `params` (name -> tensor; e.g. fake-quantised)."""
    inputs = net.point_inputs(height, width)
    idx = torch.arange(height * width, device=inputs[0].device).reshape(height, width)
    subs = []
    for a, b in sub_images(height, width, p):
        sel = idx[a::p, b::p]
        subs.append((tuple(x[sel.reshape(-1)] for x in inputs), sel.shape))
    wrapper = _Points(net)
    fold = compiled(wrapper) if compile_ else wrapper

    def render(k: int, params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        x, (h, w) = subs[k]
        if params is not None:
            out = functional_call(wrapper, {"net." + n: v for n, v in params.items()}, x)
        else:
            out = fold(*x)
        return out.t().reshape(1, -1, h, w)

    return render


def fork_lr(step_in_round: int, n: int, warmup: int, lr: float, eta_min: float,
            peak: float) -> float:
    """The reference's CustomScheduler at iteration t of a round of n: eta_min + (peak * lr
    - eta_min) * a, a = t / (warmup - 1) while warming up, then 1 - t / n."""
    t = step_in_round
    a = t / max(warmup - 1, 1) if t < warmup else max(0.0, 1.0 - t / max(n, 1))
    return eta_min + (lr * peak - eta_min) * a


def fork_phase(net: nn.Module, target: torch.Tensor, loss: Loss, s, qat: bool,
               progress: ProgressFn | None, seed: int, compile_: bool,
               restart: Callable[[nn.Module, float, bool, torch.Generator], None]) -> FitLog:
    """One phase (float fit, or QAT when `qat`) of the reference recipe on `net` in place; the
    net ends holding the best state of all rounds. `restart(net, t, qat, generator)` is NIF's
    perturbation with the reference's module exclusions."""
    iters, rounds = (s.qat_steps, s.qat_rounds) if qat else (s.steps, s.rounds)
    lr, eta_min = (s.qat_lr, s.qat_eta_min) if qat else (s.lr, s.eta_min)
    warmup, decay = (5, 1.0) if qat else (s.warmup, s.peak_decay)
    p = s.patching
    h, w = target.shape[-2:]
    offsets = sub_images(h, w, p)
    k = len(offsets)
    targets = [target[..., a::p, b::p] for a, b in offsets]
    render = sub_renderer(net, h, w, p, compile_ and not qat)
    params = [q for q in net.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=s.qat_weight_decay if qat
                            else s.weight_decay)
    gen = seeded(seed % (1 << 31) + qat, private=True)
    scale = 2.0 if s.signed else 1.0
    best = BestState(net)
    planned, ran, seconds, last = 0, 0, 0.0, math.inf
    for r in range(rounds):
        n = iters // rounds + (1 if r < iters % rounds else 0)
        if n == 0:
            continue
        peak = decay ** r

        def schedule(step: int, o: torch.optim.Optimizer, n: int = n, peak: float = peak) -> None:
            rate = fork_lr(step // k, n, min(warmup, n), lr, eta_min, peak)
            for g in o.param_groups:
                g["lr"] = rate

        def objective(step: int) -> tuple[torch.Tensor, torch.Tensor]:
            q = {m: fake_quantize(v, s.bits) for m, v in net.named_parameters()} if qat else None
            pred = render(step % k, q)
            with value_scale(scale):
                value = loss(pred, targets[step % k])
            return value, pred

        def score(step: int, pred: torch.Tensor | None) -> float:
            # the PSNR the reference keeps its best by: the assembled image's squared error
            assert pred is not None
            return float((pred.detach() - targets[step % k]).square().mean())

        log = train(net, objective, opt, n * k, schedule=schedule, window=k, score=score,
                    return_best=True, phase="qat" if qat else "fit", progress=progress,
                    offset=planned * k, total=iters * k)
        planned += n
        ran += log.steps
        seconds += log.seconds
        last = log.final_loss
        improved = best.offer(log.best_loss, log.best_state)
        if qat and not improved:
            best.restore()  # the reference reloads its best before perturbing again
        if r < rounds - 1:
            restart(net, (r + 1) / rounds, qat, gen)
    best.restore()
    return FitLog(ran, best.loss, last, seconds)
