"""Training `coolchic` on fitting.train: Cool-chic 5.0's intra recipe, scaled to a budget.

`plan(iterations)` splits the budget as 5.0's preset does (its n_itr counts every step of
every warm-up candidate too): warm-up steps per candidate `wu` (50 below 4000 iterations, 100
below 9000, 200 below 12000, else 400; scaled down linearly below 2000), a final phase of
`final_share` of the iterations (default 5 %; 5.0: 500 at any budget, i.e. 5 % at 10k; at
short budgets its 500 cost more than the main-phase steps they displace:
benchmarks/results/coolchic5_ablation.md), and the main phase gets the rest:
main = iterations - final - 7 wu.

  warmup  5 fresh models (different random networks, zero latents) train wu steps each; the
          best 2 by the evaluation go on for wu more steps with new optimisers; the best wins.
          Constant lr; soft-round at T = 0.35 with Gaussian noise sigma0(lmbda); latent Adam
          betas (0.725, 0.97); SOAP's preconditioner refreshed every step.
  main    cosine lr -> min_lr over 100-step blocks; T 0.35 -> 0.08 and noise 0.22 -> 0.15,
          moved at each block; SOAP refreshed every 10 steps; latent Adam (0.9, 0.999); after
          `patience` steps without a better evaluation the best state is reloaded.
  final   hard rounding (no gradient reaches the latents: only the networks train, on the
          latents as they will be coded), cosine lr final_lr -> min_lr.

Every phase evaluates the real objective (rounded latents, 8-bit-rounded image, estimated
rate) every `eval_every` steps and at its end, and ends on its best evaluated state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ....compiling import bf16_autocast, compiled, wants_compile
from ....fitting import train
from ....image import Image
from ....losses import Loss
from ...base import ProgressFn
from .model import CoolChic5Model, CoolChic5Settings
from .optim import PairOptimizer, latent_optimizer, network_optimizer

BLOCK = 100  # schedules move once per block, as 5.0's (which moves them at validations)
# `compile` left to auto: compiled from this many pixel-steps (image pixels x iterations), where
# the faster steps repay a first compilation with an empty inductor cache (~1 min);
# benchmarks/results/coolchic_compile.md
COMPILE_MIN_PIXEL_STEPS = 300_000_000
CANDIDATES = (5, 2)


@dataclass(frozen=True)
class Plan:
    warmup: int  # steps per candidate and stage
    main: int
    final: int

    @property
    def total(self) -> int:
        return sum(CANDIDATES) * self.warmup + self.main + self.final


def plan(s: CoolChic5Settings) -> Plan:
    n = s.iterations
    if n >= 2000:
        wu = 50 if n < 4000 else 100 if n < 9000 else 200 if n < 12000 else 400
    else:
        wu = max(1, round(50 * n / 2000))
    final = round(s.final_share * n)
    wu = wu if s.warmup else 0
    final = final if s.hard_final else 0
    main = n - final - sum(CANDIDATES) * wu
    if main < 1:  # a tiny budget: the main phase first
        wu, final = 0, 0
        main = n
    return Plan(wu, main, final)


@dataclass(frozen=True)
class Phase:
    name: str
    steps: int
    lr: tuple[float, float]  # start, end (equal: constant)
    mode: str  # "softround" or "round"
    temperature: tuple[float, float]
    noise: tuple[float, float]
    latent_betas: tuple[float, float] = (0.9, 0.999)
    precondition_frequency: int = 10
    patience: int = 0


def phases(s: CoolChic5Settings, p: Plan) -> tuple[Phase, Phase, Phase]:
    t0 = s.temperature[0]
    warm = Phase("warmup", p.warmup, (s.lr, s.lr), "softround", (t0, t0),
                 (s.sigma0(), s.sigma0()), (0.725, 0.97), 1)
    main = Phase("main", p.main, (s.lr, s.min_lr), "softround", tuple(s.temperature),
                 tuple(s.noise), patience=s.patience)
    final = Phase("final", p.final, (s.final_lr, s.min_lr), "round", (0.0, 0.0), (0.0, 0.0))
    return warm, main, final


def block_fraction(step: int, steps: int) -> float:
    """Where the schedules stand at `step`: the start of its 100-step block, as a fraction."""
    return min(1.0, BLOCK * (step // BLOCK) / max(steps, 1))


def cosine(start: float, end: float, step: int, steps: int) -> float:
    a = block_fraction(step, steps)
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * a))


@torch.no_grad()
def real_terms(model: CoolChic5Model, loss: Loss, target: torch.Tensor, levels: int
               ) -> tuple[float, float]:
    """(distortion, latent bits per pixel) as the file will have them: rounded latents, the
    image rounded to the file's levels."""
    img, bits = model("round")
    img = torch.round(img * levels) / levels
    return float(loss(img, target)), float(bits) / model.num_pixels


def evaluation(model: CoolChic5Model, loss: Loss, target: torch.Tensor, lmbda: float,
               levels: int) -> Callable[[], float]:
    """The real objective D + lmbda R (`real_terms`)."""

    def run() -> float:
        d, r = real_terms(model, loss, target, levels)
        return d + lmbda * r

    return run


def selection_score(model: CoolChic5Model, loss: Loss, target: torch.Tensor,
                    s: CoolChic5Settings, levels: int) -> float:
    """How the warm-up ranks its candidates: D + w lmbda R with w = `warmup_rate_weight`
    (default 0.5; 1 is 5.0's rule, the real objective).

    At w = 1 a candidate that has already zeroed a latent level can win on a lower rate by a
    hair, and the main phase cannot bring the level back: its rate keeps falling but its
    distortion stalls (kodim23 at half size, lmbda 4e-3: the finest level all zero, 29.8 dB,
    where the candidate that kept it, traced alone, ends at 31.3 dB;
    benchmarks/results/coolchic_vs_cc501_w05_fmt2.md). The main phase lowers every candidate's
    rate a lot (by 27-46 % there), so the warm-up's rate says less about where a candidate
    ends than its distortion does."""
    d, r = real_terms(model, loss, target, levels)
    return d + s.warmup_rate_weight * s.lmbda * r


Forward = Callable[[CoolChic5Model, str, torch.Tensor, torch.Tensor],
                   tuple[torch.Tensor, torch.Tensor]]


def soft_forward(s: CoolChic5Settings, device_type: str, compile_: bool) -> Forward:
    """(model, mode, temperature, noise) -> (image, rate in bits): the step of the phases that
    train the latents. One function for every model and phase of an encode, so that with
    `compile_` it is compiled once (the warm-up's five candidates and the main phase reuse
    the graph)."""

    def forward(model: CoolChic5Model, mode: str, temp: torch.Tensor, noise: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        with bf16_autocast(device_type, s.bf16):
            img, bits = model(mode, temp, noise)
        return img.float(), bits.float()

    if not compile_:
        return forward
    # fullgraph: a graph break (which would leave most of the step eager) fails the
    # compilation instead, and `compiled` warns and trains eagerly
    return compiled(forward, fullgraph=True,
                    options={"layout_optimization": False, "fallback_random": True})


def make_step(model: CoolChic5Model, loss: Loss, target: torch.Tensor, s: CoolChic5Settings,
              phase: Phase, forward: Forward | None = None
              ) -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    """The phase's objective at each step; `forward` (default: `soft_forward`, eager) runs
    the phases that train the latents, the hard-rounding phase runs eagerly (a graph of its
    own would cost more to compile than its few steps save)."""
    steps = phase.steps
    (t0, t1), (n0, n1) = phase.temperature, phase.noise
    temp, noise = torch.tensor(t0), torch.tensor(n0)  # tensors: a compiled step never recompiles
    lmbda, n = s.lmbda, model.num_pixels
    _ = model.gather  # built before any tracing: inside a graph its numpy code would break it
    if phase.mode == "round":
        fixed = model.rounded()  # hard rounding: the latents are constants

        def fn(model: CoolChic5Model, mode: str, temp: torch.Tensor, noise: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
            with bf16_autocast(target.device.type, s.bf16):
                img, bits = model.render(fixed).clamp(0, 1), model.bits(fixed)
            return img.float(), bits.float()
    else:
        fn = forward or soft_forward(s, target.device.type, False)

    def objective(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = block_fraction(step, steps)
        temp.fill_(t0 + (t1 - t0) * a)
        noise.fill_(n0 + (n1 - n0) * a)
        img, bits = fn(model, phase.mode, temp, noise)
        # the distortion stays outside the compiled graph: losses read a context variable
        # (`losses.value_scale`), which would break it
        return loss(img, target) + lmbda * bits / n, img

    return objective


def run_phase(model: CoolChic5Model, loss: Loss, target: torch.Tensor, s: CoolChic5Settings,
              phase: Phase, levels: int, *, forward: Forward | None = None,
              progress: ProgressFn | None = None, offset: int = 0, total: int | None = None,
              runs: list[list[float]] | None = None) -> float:
    """One phase on `model` in place; returns its best evaluation (the model ends there).
    `runs` gets [steps run, seconds] appended: on a budget's clock the steps run are not the
    planned ones, and the log should say how many the time bought."""
    nets = model.network_parameters()
    lat = [] if phase.mode == "round" else model.latent_parameters()
    opt = PairOptimizer(
        network_optimizer(nets, s.optimizer, phase.lr[0], s.weight_decay,
                          phase.precondition_frequency),
        latent_optimizer(lat, phase.lr[0], phase.latent_betas) if lat else None, s.grad_clip)

    def schedule(step: int, o: torch.optim.Optimizer) -> None:
        lr = cosine(phase.lr[0], phase.lr[1], step, phase.steps)
        for g in o.param_groups:
            g["lr"] = lr

    every = max(1, s.eval_every)
    log = train(model, make_step(model, loss, target, s, phase, forward), opt, phase.steps,
                schedule=schedule, keep_best=True, phase=phase.name,
                patience=phase.patience // every if phase.patience else 0,
                progress=progress, target=target, offset=offset, total=total,
                evaluate=evaluation(model, loss, target, s.lmbda, levels), eval_every=every)
    if runs is not None:
        runs.append([log.steps, round(log.seconds, 2)])
    return log.best_loss


def fit(image: Image, loss: Loss, s: CoolChic5Settings, *, device: torch.device,
        seed: int = 0, progress: ProgressFn | None = None
        ) -> tuple[CoolChic5Model, dict[str, Any]]:
    """Warm-up competition, main and final phases; the trained float model and a log."""
    target = image.data.unsqueeze(0).to(device)
    h, w, c = image.height, image.width, image.channels
    levels = (1 << image.bit_depth) - 1
    p = plan(s)
    warm, main, final = phases(s, p)
    comp = wants_compile(s.compile, h * w, s.iterations, COMPILE_MIN_PIXEL_STEPS)
    forward = soft_forward(s, device.type, comp)
    log: dict[str, Any] = {"plan": {"warmup": p.warmup, "main": p.main, "final": p.final},
                           "compiled": comp}
    runs: dict[str, list[list[float]]] = {"warmup": [], "main": [], "final": []}
    log["runs"] = runs  # [steps run, seconds] of each phase (warm-up: each candidate's stages)
    t = time.perf_counter()
    if p.warmup:
        n1, n2 = CANDIDATES
        total = (n1 + n2) * p.warmup
        scored = []
        for cand in range(n1):
            torch.manual_seed(seed * 1009 + cand)
            m = CoolChic5Model(s, h, w, c).to(device)
            run_phase(m, loss, target, s, warm, levels, forward=forward, progress=progress,
                      offset=cand * p.warmup, total=total, runs=runs["warmup"])
            scored.append((selection_score(m, loss, target, s, levels), cand, m))
        scored.sort(key=lambda x: (x[0], x[1]))
        finals = []
        for j, (_, cand, m) in enumerate(scored[:n2]):
            run_phase(m, loss, target, s, warm, levels, forward=forward, progress=progress,
                      offset=(n1 + j) * p.warmup, total=total, runs=runs["warmup"])
            finals.append((selection_score(m, loss, target, s, levels), cand, m))
        finals.sort(key=lambda x: (x[0], x[1]))
        model = finals[0][2]
        log["warmup_winner"] = finals[0][1]
        log["warmup_scores"] = [[c, round(v, 8)] for v, c, _ in finals]
    else:
        torch.manual_seed(seed * 1009)
        model = CoolChic5Model(s, h, w, c).to(device)
    log["warmup_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    log["main_objective"] = run_phase(model, loss, target, s, main, levels, forward=forward,
                                      progress=progress, runs=runs["main"])
    log["main_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    if p.final:
        log["final_objective"] = run_phase(model, loss, target, s, final, levels,
                                           progress=progress, runs=runs["final"])
    log["final_seconds"] = time.perf_counter() - t
    return model, log
