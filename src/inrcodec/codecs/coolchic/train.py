"""Cool-chic training: minimise D + lmbda * R / pixels over the latents and the networks.

D is any registry loss, R the ARM's estimate of the latent bits. `fit` runs the phases, each
reported through ProgressFn:
  warmup  `warmup_candidates` random initialisations trained `warmup_steps` steps each with
          the main proxy; the one with the best objective on rounded latents is kept
          (Cool-chic 2's warm-up). The warm-up holds the temperature and noise start values.
  fit     `steps` steps of Adam, lr `lr` with cosine decay, latents through the `proxy`
          (v1: additive uniform noise; v2: soft-round + Gaussian noise, the soft-round
          temperature and the noise annealed from their start to their end values, as
          Cool-chic's current recipe)
  ste     `ste_steps` steps at lr `ste_lr` (cosine) with straight-through rounding; the best
          loss seen is kept

The order of random draws (seeding, model construction, optimiser creation, proxies) is part
of the format's reproducibility: the same seed gives the same file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ...compiling import bf16_autocast
from ...fitting import Schedule, clip_gradients, train
from ...image import Image
from ...losses import Loss
from ..base import ProgressFn
from .model import CoolChicModel, CoolChicSettings

Objective = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Phase:
    """One training phase: its own Adam and cosine schedule over `steps` steps."""

    name: str  # reported through Progress
    steps: int
    lr: float
    proxy: str  # the latents' quantisation proxy (latents.proxy mode)
    anneal: bool = True  # temperature and noise move from start to end (else hold the start)
    keep_best: bool = False  # restore the state with the lowest loss seen
    bf16: bool = True  # settings.bf16 applies
    compile: bool = False  # settings.compile applies

    @classmethod
    def warmup(cls, s: CoolChicSettings) -> Phase:
        return cls("warmup", s.warmup_steps, s.lr, s.proxy, anneal=False)

    @classmethod
    def fit(cls, s: CoolChicSettings, steps: int | None = None) -> Phase:
        return cls("fit", s.steps if steps is None else steps, s.lr, s.proxy, compile=True)

    @classmethod
    def ste(cls, s: CoolChicSettings) -> Phase:
        # STE steps are few and late: full precision, eager
        return cls("ste", s.ste_steps, s.ste_lr, "ste", keep_best=True, bf16=False)


def make_optimizer(model: CoolChicModel, lr: float, upsampling_lr_scale: float
                   ) -> torch.optim.Adam:
    """Adam, the learned upsampling in its own group at its own rate; each group's "base" rate
    is what the cosine schedule scales. Fused where the device allows: one kernel per tensor
    instead of about ten ops per step."""
    up = list(model.upsampling.parameters())
    rest = [p for n, p in model.named_parameters() if not n.startswith("upsampling.")]
    groups = [{"params": rest, "base": lr}]
    if up:
        groups.append({"params": up, "base": lr * upsampling_lr_scale})
    fused = all(p.device.type in ("cpu", "cuda") for p in model.parameters())
    return torch.optim.Adam(groups, lr=lr, fused=fused or None)


def cosine_lr(base: float, step: int, steps: int) -> float:
    """Learning rate at `step` of `steps`: cosine decay from `base` towards 0."""
    return base * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))


def cosine_schedule(steps: int) -> Schedule:
    """fitting.train's schedule for a phase of `steps` steps: each group's lr at cosine_lr of
    its "base" rate."""

    def apply(step: int, opt: torch.optim.Optimizer) -> None:
        for g in opt.param_groups:
            g["lr"] = cosine_lr(g["base"], step, steps)

    return apply


def clipped_step(opt: torch.optim.Optimizer, grad_clip: float) -> None:
    """One optimiser step, the gradients' global L2 norm first clipped to grad_clip (0: off),
    as Cool-chic does (0.1): a rare large gradient otherwise throws a fit back by hundreds of
    steps. fitting.train's step with grad_clip is this one."""
    clip_gradients(opt, grad_clip)
    opt.step()


def compile_objective(fn: Callable[..., Any]) -> Callable[..., Any]:
    """torch.compile for the training objective. Inductor's layout optimisation is off: it
    stored the synthesis' ReLU masks channels-last, a strided copy that cost more than the
    convolutions it was meant to speed up. Random numbers come from torch's own generator
    (fallback_random), so a compiled fit draws the same noise as an eager one."""
    return torch.compile(fn, dynamic=False,
                         options={"layout_optimization": False, "fallback_random": True})


def objective(model: CoolChicModel, loss: Loss, target: torch.Tensor, settings: CoolChicSettings,
              mode: str, *, temperature: float | torch.Tensor = 0.3,
              noise: float | torch.Tensor = 1.0, bf16: bool = False
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(D + lmbda * R / pixels, reconstruction) with the latents through proxy `mode`
    (settings.noise_type for the soft-round noise); D in float32 even under bf16."""
    with bf16_autocast(target.device.type, bf16):
        img, bits = model(mode, temperature, noise, settings.noise_type)
    img = img.float()
    return loss(img, target) + settings.lmbda * bits / model.num_pixels, img


def rounded_objective(model: CoolChicModel, loss: Loss, target: torch.Tensor,
                      settings: CoolChicSettings) -> float:
    """The objective with the latents rounded, as they will be coded (no gradient)."""
    with torch.no_grad():
        return float(objective(model, loss, target, settings, "round")[0])


def train_phase(model: CoolChicModel, loss: Loss, target: torch.Tensor,
                settings: CoolChicSettings, phase: Phase, *, progress: ProgressFn | None = None,
                offset: int = 0, total: int | None = None) -> float:
    """Run one phase on `model` in place with fitting.train; returns its last loss (the best
    one with phase.keep_best, the model then restored to that state). Progress steps are
    reported as offset + step of `total` (default phase.steps), so that warm-up candidates
    count on."""
    s, steps = settings, phase.steps
    opt = make_optimizer(model, phase.lr, s.upsampling_lr_scale)
    (t0, t1), (n0, n1) = s.temperature, s.noise
    if not phase.anneal:
        t1, n1 = t0, n0
    temp, noise = torch.tensor(t0), torch.tensor(n0)  # tensors: no recompiles
    bf16 = s.bf16 and phase.bf16

    def step_objective(temp: torch.Tensor, noise: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        return objective(model, loss, target, s, phase.proxy, temperature=temp, noise=noise,
                         bf16=bf16)

    fn: Objective = step_objective
    if s.compile and phase.compile:
        fn = compile_objective(step_objective)

    def annealed(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = step / max(steps - 1, 1)
        temp.fill_(t0 + (t1 - t0) * a)  # in place: a compiled objective sees the same tensors
        noise.fill_(n0 + (n1 - n0) * a)
        return fn(temp, noise)

    log = train(model, annealed, opt, steps, schedule=cosine_schedule(steps),
                grad_clip=s.grad_clip, keep_best=phase.keep_best, phase=phase.name,
                progress=progress, target=target, offset=offset, total=total)
    # best_loss is inf when no finite loss was seen: then the last one, as without keep_best
    return log.best_loss if phase.keep_best and log.best_loss < math.inf else log.final_loss


def fit(image: Image, loss: Loss, settings: CoolChicSettings, *, device: torch.device,
        seed: int = 0, progress: ProgressFn | None = None
        ) -> tuple[CoolChicModel, dict[str, Any]]:
    """Warm-up, fit and STE phases on `image`; returns the float model (on `device`) and a log
    of the phases' losses, seconds and step counts."""
    s = settings
    target = image.data.unsqueeze(0).to(device)
    h, w, c = image.height, image.width, image.channels
    log: dict[str, Any] = {}
    t = time.perf_counter()
    n_cand = max(1, s.warmup_candidates)
    best_model, best_value = None, math.inf
    warmup = Phase.warmup(s)
    for cand in range(n_cand):
        torch.manual_seed(seed * 1009 + cand)
        model = CoolChicModel(s, h, w, c).to(device)
        if s.warmup_candidates <= 1 or s.warmup_steps == 0:
            best_model = model
            break
        train_phase(model, loss, target, s, warmup, progress=progress,
                    offset=cand * s.warmup_steps, total=n_cand * s.warmup_steps)
        value = rounded_objective(model, loss, target, s)  # candidates compared as coded
        if value < best_value or best_model is None:
            best_model, best_value = model, value
    model = best_model
    log["warmup_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    log["fit_loss"] = train_phase(model, loss, target, s, Phase.fit(s), progress=progress)
    log["fit_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    if s.ste_steps:
        log["ste_loss"] = train_phase(model, loss, target, s, Phase.ste(s), progress=progress)
    log["ste_seconds"] = time.perf_counter() - t
    log["steps"] = {"warmup": n_cand * s.warmup_steps if s.warmup_candidates > 1 else 0,
                    "fit": s.steps, "ste": s.ste_steps}
    log["macs_per_pixel"] = round(model.macs_per_pixel(), 1)
    return model, log
