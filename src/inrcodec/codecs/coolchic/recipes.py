"""Cool-chic 1.0 and 2.0 trained as the ICIP 2024 loss study's reference code trains them
(INRAnalysis-ICIP24/cool-chic, branches 1.0-adaptations and 2.0-adaptations): `recipe`
"cc1" / "cc2". The model side (learned per-grid gains, initialisation, the rate model's
-0.5 ln-scale and its range) is in `model`; here are the loops.

cc1 (model_management/trainer.py, encode.py): `warmup_candidates` models each trained
`warmup_steps` steps, the one with the best validation loss kept, then `steps` steps. Every
training is Adam at `lr`, latents through uniform noise, x^ clamped to [0, 1], gradients
clipped to `grad_clip` (the reference: 10), and validated every 100 steps with the latents
rounded, keeping the best validated state; ReduceLROnPlateau(0.5, patience 15) halves the rate
after 16 validations without a new best (and the best is reloaded), below 9e-4 the latents
switch to the straight-through rounding, below 4e-4 training stops. Within the study's 1,000
steps (10 validations) the rate is never lowered, so the switch and the stop never fire.

cc2 (the "faster" preset, model_management/presets.py and trainer.py): warm-up rounds of
`warmup_candidates`, then one fewer, ... down to 2 candidates, `warmup_steps` steps each, the
candidates sorted by their loss with rounded latents (and the output on 8-bit levels) after
each round; then the preset's 11 phases (6,300 steps, scaled to `steps`), each a fresh Adam
at a constant rate over one group of modules (latents and gains, ARM, synthesis, or all),
keeping its last state: uniform noise whose gradient is multiplied by 100, then the
straight-through rounding with gradients times 0.01; the networks are quantised after the
tenth phase and the latents retrained on them. Gradients clipped to `grad_clip` (0.1) over
every parameter.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from ...fitting import train
from ...image import Image
from ...losses import Loss
from ..base import ProgressFn
from .arm_int import LATENT_MAX
from .model import MODULES, CoolChicModel, CoolChicSettings, module_tensors

# (lr factor, steps, modules, straight-through, quantise the networks after) of 2.0's faster
CC2_PHASES = (
    (1.0, 4000, "all", False, False),
    (1 / 2, 500, "all", False, False),
    (1 / 2, 100, "latent", False, False),
    (1 / 2, 100, "arm", False, False),
    (1 / 2, 100, "synthesis", False, False),
    (1 / 10, 500, "all", False, False),
    (1 / 20, 500, "all", False, False),
    (1 / 20, 200, "all", True, False),
    (1 / 20, 100, "arm", True, False),
    (1 / 20, 100, "synthesis", True, True),
    (1 / 5, 100, "latent", True, False),
)
CC2_STEPS = sum(p[1] for p in CC2_PHASES)  # 6,300
CC2_GRAD = {"noise": 100.0, "ste": 0.01}  # 2.0's NoiseQuantizer / STEQuantizer derivatives


def cc2_phase_steps(steps: int) -> list[int]:
    """The 11 phases' step counts for `steps` in all (6,300: the preset's own)."""
    return [max(1, round(p[1] * steps / CC2_STEPS)) for p in CC2_PHASES]


def quantise_latent(y: torch.Tensor, mode: str, grad: float = 1.0) -> torch.Tensor:
    """Uniform noise or rounding in the forward pass, the gradient multiplied by `grad`."""
    y = y.clamp(-LATENT_MAX, LATENT_MAX)
    v = y + (torch.rand_like(y) - 0.5) if mode == "noise" else torch.round(y)
    if grad == 1.0:
        return y + (v - y).detach()
    return v.detach() + grad * (y - y.detach())


def forward(model: CoolChicModel, s: CoolChicSettings, mode: str
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(x^ clamped to [0, 1], bits) with the latents through `mode` (noise, ste or round)."""
    grad = CC2_GRAD.get(mode, 1.0) if s.recipe == "cc2" else 1.0
    ys = model.latents.values()
    yq = [torch.round(y.clamp(-LATENT_MAX, LATENT_MAX)) if mode == "round"
          else quantise_latent(y, mode, grad) for y in ys]
    return model.render(yq).clamp(0, 1), model.bits(yq)


def validation(model: CoolChicModel, loss: Loss, target: torch.Tensor,
               s: CoolChicSettings) -> float:
    """The loss with the latents rounded (2.0 also puts x^ on 8-bit levels), no gradient."""
    with torch.no_grad():
        img, bits = forward(model, s, "round")
        if s.recipe == "cc2":
            img = torch.round(img * 255) / 255
        return float(loss(img, target) + s.lmbda * bits / model.num_pixels)


def _objective(model: CoolChicModel, loss: Loss, target: torch.Tensor, s: CoolChicSettings,
               mode: dict[str, str]):
    def fn(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        img, bits = forward(model, s, mode["proxy"])
        return loss(img, target) + s.lmbda * bits / model.num_pixels, img
    return fn


def train_cc1(model: CoolChicModel, loss: Loss, target: torch.Tensor, s: CoolChicSettings,
              steps: int, phase: str, progress: ProgressFn | None = None, offset: int = 0,
              total: int | None = None) -> float:
    """1.0's train(): returns the best validation loss; the model ends in that state."""
    opt = torch.optim.Adam(model.parameters(), lr=s.lr)
    mode = {"proxy": "noise"}

    def on_plateau(step: int, o: torch.optim.Optimizer) -> bool:
        for g in o.param_groups:
            g["lr"] *= 0.5
        rate = o.param_groups[0]["lr"]
        if rate < 9e-4:
            mode["proxy"] = "ste"
        return rate < 4e-4

    log = train(model, _objective(model, loss, target, s, mode), opt, steps,
                grad_clip=s.grad_clip, validate=lambda: validation(model, loss, target, s),
                validate_every=100, patience=16, on_plateau=on_plateau, phase=phase,
                progress=progress, target=target, offset=offset, total=total)
    return log.best_loss


def _groups(model: CoolChicModel, modules: str) -> list[list[torch.nn.Parameter]]:
    """(optimised, the rest): the rest ride along at rate 0 so that the gradient clip sees
    every gradient, as 2.0 clips model.parameters()."""
    if modules == "all":
        chosen = list(model.parameters())
    elif modules == "latent":
        chosen = list(model.latents.parameters())
    else:
        chosen = list(getattr(model, modules).parameters())
    ids = {id(p) for p in chosen}
    return [chosen, [p for p in model.parameters() if id(p) not in ids]]


def train_cc2_phase(model: CoolChicModel, loss: Loss, target: torch.Tensor,
                    s: CoolChicSettings, lr: float, steps: int, modules: str, ste: bool,
                    phase: str, progress: ProgressFn | None = None, offset: int = 0,
                    total: int | None = None) -> float:
    """2.0's one_training_phase: constant rate, last state kept; returns the validation."""
    chosen, rest = _groups(model, modules)
    groups = [{"params": chosen, "lr": lr}] + ([{"params": rest, "lr": 0.0}] if rest else [])
    opt = torch.optim.Adam(groups, lr=lr)
    mode = {"proxy": "ste" if ste else "noise"}
    train(model, _objective(model, loss, target, s, mode), opt, steps, grad_clip=s.grad_clip,
          keep_best=False, phase=phase, progress=progress, target=target, offset=offset,
          total=total)
    return validation(model, loss, target, s)


@torch.no_grad()
def quantise_networks(model: CoolChicModel, loss: Loss, target: torch.Tensor,
                      s: CoolChicSettings) -> None:
    """2.0's quantize_model: every module's weights onto its rate-distortion steps, in place."""
    from .rdquant import quantize_model

    steps = quantize_model(model, loss, target, s).steps
    for name in MODULES:
        ws, bs = module_tensors(model, name)
        for tensors, k in ((ws, steps[name][0]), (bs, steps[name][1])):
            for t in tensors:
                t.copy_(torch.round(t * 2.0 ** k) * 2.0 ** -k)


def _new_model(s: CoolChicSettings, image: Image, device: torch.device, seed: int,
               cand: int) -> CoolChicModel:
    torch.manual_seed(seed * 1009 + cand)
    return CoolChicModel(s, image.height, image.width, image.channels).to(device)


def fit_recipe(image: Image, loss: Loss, settings: CoolChicSettings, *, device: torch.device,
               seed: int = 0, progress: ProgressFn | None = None
               ) -> tuple[CoolChicModel, dict[str, Any]]:
    """train.fit for recipes cc1 and cc2: the float model, its rate model folded to ours."""
    s = settings
    target = image.data.unsqueeze(0).to(device)
    log: dict[str, Any] = {}
    t = time.perf_counter()
    n = max(1, s.warmup_candidates)
    warm = s.warmup_steps if s.warmup_candidates > 1 else 0
    if s.recipe == "cc1":
        best, best_v = None, math.inf
        for cand in range(n):
            model = _new_model(s, image, device, seed, cand)
            if not warm:
                best = model
                break
            v = train_cc1(model, loss, target, s, warm, "warmup", progress, cand * warm,
                          n * warm)
            if v < best_v or best is None:
                best, best_v = model, v
        model = best
        log["warmup_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        log["fit_loss"] = train_cc1(model, loss, target, s, s.steps, "fit", progress)
        done_warm = n * warm
    else:
        cands = [_new_model(s, image, device, seed, c) for c in range(n)]
        total_warm = sum(range(2, n + 1)) * warm
        done_warm = 0
        for count in range(n, 1, -1) if warm else ():
            scored = []
            for model in cands[:count]:
                v = train_cc2_phase(model, loss, target, s, s.lr, warm, "all", False, "warmup",
                                    progress, done_warm, total_warm)
                done_warm += warm
                scored.append((v, len(scored), model))
            cands = [m for _, _, m in sorted(scored, key=lambda x: (x[0], x[1]))]
        model = cands[0]
        log["warmup_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        planned = cc2_phase_steps(s.steps)
        offset = 0
        for (f, _, modules, ste, quant), steps in zip(CC2_PHASES, planned, strict=True):
            log["fit_loss"] = train_cc2_phase(model, loss, target, s, s.lr * f, steps, modules,
                                              ste, "fit", progress, offset, sum(planned))
            offset += steps
            if quant:
                quantise_networks(model, loss, target, s)
    model.fold_log_scale()
    log["fit_seconds"] = time.perf_counter() - t
    log["ste_seconds"] = 0.0
    log["steps"] = {"warmup": done_warm, "fit": s.steps, "ste": 0}
    log["macs_per_pixel"] = round(model.macs_per_pixel(), 1)
    return model, log
