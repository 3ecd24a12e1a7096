"""NIF (Catania and Allegra, ACM MM 2023): bottleneck sine MLP with modulated periods.

Genesis network: positional encoding of (y, x) with frequencies base^k * pi (base 1.4, 16
frequencies), a linear head, then linear layers whose widths shrink toward the output
(e.g. 120-40-28-16), each followed by sin(period(x) * h), and a linear tail to the channels.
Modulator network: a small sine MLP (sin(30 h)) on its own 4-frequency encoding that outputs
m(x); every genesis activation uses period(x) = omega + sigma * m(x) = 30 + 10 m(x).

Training follows the published recipe: `rounds` rounds (10 x 150 steps) of AdamW (lr 1e-3,
weight decay 1e-4) with a linear warm-up and a linear decay to `eta_min`, the optimiser
restarted and the weights perturbed between rounds; then quantisation-aware rounds
(5 x 40 steps, lr 5e-5). The loss is computed on the image split into 2x2 sub-images
(pixel_unshuffle), the whole batch in one pass. Weights: 8-bit per tensor.

`schedule = "fork"` trains as the ICIP 2024 study's reference code does instead (`nif_fork`:
one step per sub-image, one AdamW per phase, the peak lr decaying `peak_decay` per round, QAT
with weight decay and best-state reloads); `signed = true` makes the network output the image
on [-1, 1] (decoded as (y + 1) / 2) and takes the loss there, as that code does. The `fork-*`
presets are NIF's configurations with both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...compiling import wants_compile
from ...errors import ConfigError
from ...fitting import BestState, FitLog, optimize, seeded
from ...losses import Loss, value_scale
from ..base import ProgressFn
from .base import COMPILE_MIN_PIXEL_STEPS, CoordinateNet, WeightINRCodec
from .fourier import fourier_features
from .nif_fork import fork_phase, fork_skip


def _init_uniform(layer: nn.Linear, bound: float) -> None:
    nn.init.uniform_(layer.weight, -bound, bound)


class Modulator(nn.Module):
    def __init__(self, enc_dim: int, hidden: tuple[int, ...], omega: float, sigma: float):
        super().__init__()
        self.omega, self.sigma = omega, sigma
        dims = [enc_dim, *hidden]
        self.layers = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(len(hidden)))
        self.tail = nn.Linear(dims[-1], 1)
        _init_uniform(self.layers[0], 1.0 / enc_dim)
        for layer in [*self.layers[1:], self.tail]:
            _init_uniform(layer, math.sqrt(6.0 / layer.in_features) / omega)

    def forward(self, enc: torch.Tensor) -> torch.Tensor:
        h = enc
        for layer in self.layers:
            h = torch.sin(self.omega * layer(h))
        return self.sigma * self.tail(h)  # m(x), [P, 1]


class NIFNet(CoordinateNet):
    def __init__(self, channels: int, hidden: tuple[int, ...], mod_hidden: tuple[int, ...],
                 freqs: int, mod_freqs: int, base: float, omega: float, sigma: float,
                 signed: bool = False) -> None:
        super().__init__()
        self.out_channels, self.omega = channels, omega
        # signed: the tail's output is the image on [-1, 1], as NIF's reference trains
        self.out_scale = 0.5 if signed else 1.0
        self.freqs, self.mod_freqs, self.base = freqs, mod_freqs, base
        enc_dim, mod_dim = 2 + 4 * freqs, 2 + 4 * mod_freqs
        self.head = nn.Linear(enc_dim, hidden[0])
        self.body = nn.ModuleList(nn.Linear(hidden[i], hidden[i + 1])
                                  for i in range(len(hidden) - 1))
        self.tail = nn.Linear(hidden[-1], channels)
        self.modulator = Modulator(mod_dim, mod_hidden, omega, sigma)
        _init_uniform(self.head, 1.0 / enc_dim)
        for layer in [*self.body, self.tail]:
            _init_uniform(layer, math.sqrt(6.0 / layer.in_features) / omega)

    def periods(self, mod_enc: torch.Tensor) -> torch.Tensor:
        return self.omega + self.modulator(mod_enc)

    def points(self, enc: torch.Tensor, mod_enc: torch.Tensor) -> torch.Tensor:
        period = self.periods(mod_enc)
        h = torch.sin(period * self.head(enc))
        for layer in self.body:
            h = torch.sin(period * layer(h))
        if self.out_scale != 1.0:
            return self.out_scale * self.tail(h) + 0.5
        return self.tail(h) + 0.5

    def point_inputs(self, height: int, width: int) -> tuple[torch.Tensor, ...]:
        p = next(self.parameters())
        return (fourier_features(height, width, self.freqs, self.base, p.device, p.dtype),
                fourier_features(height, width, self.mod_freqs, self.base, p.device, p.dtype))


@dataclass
class NIFSettings:
    hidden: tuple[int, ...] = (120, 40, 28, 16)
    mod_hidden: tuple[int, ...] = (16, 8)
    freqs: int = 16
    mod_freqs: int = 4
    base: float = 1.4
    omega: float = 30.0
    sigma: float = 10.0
    bits: int = 8
    steps: int = 1500  # total float steps, split into `rounds` rounds
    rounds: int = 10
    lr: float = 1e-3
    eta_min: float = 6e-4
    weight_decay: float = 1e-4
    warmup: int = 20
    qat_steps: int | None = 200
    qat_rounds: int = 5
    qat_lr: float = 5e-5
    qat_eta_min: float = 2e-5
    patching: int = 2
    compile: bool | None = None  # torch.compile the fit phase; None: when long enough
    # the reference code's recipe (nif_fork) instead of "rounds"; its peak-lr decay per round
    # and its QAT weight decay (AdamW's default)
    schedule: str = "rounds"
    peak_decay: float = 1.0
    qat_weight_decay: float = 0.0
    signed: bool = False  # output and loss on [-1, 1] (stored in the file)


# The reference recipe on top of a configuration (nif_fork); on Kodak at half size the
# reference ran its kodak_x2_speed configurations (x2-120: hidden 120-50-32-24, modulator
# 16-16-16; results/summaries/kodak_x2/nif.json: 1.329 bpp / 32.33 dB on the 24 images).
FORK = {"schedule": "fork", "peak_decay": 0.99, "qat_weight_decay": 0.01, "signed": True}
X2_PRESETS = {
    "x2-120": {"hidden": (120, 50, 32, 24), "mod_hidden": (16, 16, 16)},
    "x2-280": {"hidden": (280, 100, 48, 16), "mod_hidden": (64, 16, 8)},
}


# Kodak configurations of the public NIF code (named by the first layer's width) and the
# published Kodak means they reached: 120: 0.277 bpp, 280: 0.969, 360: 1.629, 450: 2.605,
# 680: 4.028 (200 lies between 0.277 and 0.969; the paper's 0.577 point).
RATE_PRESETS = {
    "120": {"hidden": (120, 40, 28, 16), "mod_hidden": (16, 8)},
    "200": {"hidden": (200, 64, 40, 20), "mod_hidden": (64, 16, 8)},
    "280": {"hidden": (280, 100, 48, 16), "mod_hidden": (64, 16, 8)},
    "360": {"hidden": (360, 150, 70, 32), "mod_hidden": (64, 16, 8)},
    "450": {"hidden": (450, 220, 85, 32), "mod_hidden": (64, 16, 8)},
    "680": {"hidden": (680, 260, 65, 30), "mod_hidden": (64, 16, 8)},
}


def round_schedule(steps: int, warmup: int, lr: float, eta_min: float) -> Callable[[int], float]:
    """NIF's per-round lr multiplier: linear warm-up, then linear decay to eta_min."""
    floor = eta_min / lr

    def factor(t: int) -> float:
        if t < warmup:
            a = t / max(warmup - 1, 1)
        else:
            a = max(0.0, 1.0 - t / max(steps, 1))
        return floor + (1.0 - floor) * a

    return factor


@torch.no_grad()
def perturb(net: NIFNet, amount: float, spread: float, generator: torch.Generator,
            skip: Callable[[str], bool] = lambda name: name == "head") -> None:
    """NIF's restart: add U(-s, s) noise (s = spread * mean|w|) to a random `amount` of each
    weight (kept entries scaled 1/amount, as dropout does), the layers `skip` names excepted
    (default: the first layer)."""
    for name, module in net.named_modules():
        if not isinstance(module, nn.Linear) or skip(name):
            continue
        w = module.weight
        s = float(w.abs().mean()) * spread
        noise = (torch.rand(w.shape, generator=generator) * 2 - 1) * s
        keep = (torch.rand(w.shape, generator=generator) < amount).float() / max(amount, 1e-6)
        w.add_((noise * keep).to(w))


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def restart(net: NIFNet, t: float, qat: bool, generator: torch.Generator,
            skip: Callable[[str], bool] = lambda name: name == "head") -> None:
    """The perturbation between rounds, t = rounds done / rounds, as the public NIF code
    schedules it. Float rounds: the perturbed fraction moves from 0.125 to 0.7 along t^0.05
    and the noise from 0.9 to 0.2 mean|w| along t^0.2 (steep: most of the way is covered by
    the first restart). QAT rounds: 0.5 % of the weights, noise from 0 to 0.005 mean|w|."""
    if qat:
        perturb(net, 0.005, _lerp(0.0, 0.005, t), generator, skip)
    else:
        perturb(net, _lerp(0.125, 0.7, t ** 0.05), _lerp(0.9, 0.2, t ** 0.2), generator, skip)


def fork_restart(net: nn.Module, t: float, qat: bool, generator: torch.Generator) -> None:
    restart(net, t, qat, generator, fork_skip)


def patched(loss: Loss, patching: int) -> Loss:
    """Evaluate `loss` on the batch of sub-images (pixel_unshuffle), as NIF trains."""
    if patching <= 1:
        return loss

    def split(x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        ph, pw = (-h) % patching, (-w) % patching
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        x = F.pixel_unshuffle(x, patching)  # [N, C*p*p, h/p, w/p]
        return x.reshape(n, c, patching * patching, *x.shape[-2:]).transpose(1, 2).reshape(
            n * patching * patching, c, *x.shape[-2:])

    def fn(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return loss(split(pred), split(target))

    return fn


def _signed(loss: Loss) -> Loss:
    def fn(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with value_scale(2.0):
            return loss(pred, target)

    return fn


class NIFCodec(WeightINRCodec):
    name = "nif"
    settings_cls = NIFSettings
    decode_fields = ("hidden", "mod_hidden", "freqs", "mod_freqs", "base", "omega", "sigma",
                     "bits")
    optional_decode_fields = ("signed",)
    presets = {
        "default": {},
        "fast": {"steps": 400, "rounds": 4, "qat_steps": 80, "qat_rounds": 2},
        "slow": {"steps": 3000, "rounds": 10, "qat_steps": 400},
        **RATE_PRESETS,
        **{f"fork-{k}": {**v, **FORK} for k, v in {**RATE_PRESETS, **X2_PRESETS}.items()},
    }

    @classmethod
    def validate(cls, s: NIFSettings) -> None:
        super().validate(s)
        for name, widths in (("hidden", s.hidden), ("mod_hidden", s.mod_hidden)):
            if not (1 <= len(widths) <= 16 and all(isinstance(w, int) and 1 <= w <= 4096
                                                   for w in widths)):
                raise ConfigError(f"nif: {name} must be 1..16 widths in 1..4096")
        if not (0 <= s.freqs <= 32 and 0 <= s.mod_freqs <= 32 and 1.0 < s.base <= 4.0):
            raise ConfigError("nif: freqs and mod_freqs 0..32, base in (1, 4]")
        if not (0 < s.omega <= 1000 and 0 <= s.sigma <= 1000):
            raise ConfigError("nif: omega in (0, 1000], sigma in [0, 1000]")
        if s.rounds < 1 or s.qat_rounds < 1 or s.patching < 1:
            raise ConfigError("nif: rounds, qat_rounds and patching must be >= 1")
        if s.schedule not in ("rounds", "fork"):
            raise ConfigError("nif: schedule must be 'rounds' or 'fork'")
        if not (0 < s.peak_decay <= 1 and 0 <= s.qat_weight_decay < 1):
            raise ConfigError("nif: peak_decay in (0, 1], qat_weight_decay in [0, 1)")
        if not isinstance(s.signed, bool):
            raise ConfigError("nif: signed must be true or false")

    @classmethod
    def planned_steps(cls, s: NIFSettings) -> int:
        # the fork's iterations are one optimiser step (and one progress event) per sub-image
        per = s.patching ** 2 if s.schedule == "fork" else 1
        return (s.steps + s.qat_steps) * per

    def build(self, s: NIFSettings, channels: int) -> NIFNet:
        return NIFNet(channels, tuple(s.hidden), tuple(s.mod_hidden), s.freqs, s.mod_freqs,
                      s.base, s.omega, s.sigma, s.signed)

    def train_phase(self, net: CoordinateNet, render: Callable[[], torch.Tensor],
                    target: torch.Tensor, loss: Loss, s: NIFSettings, qat: bool,
                    progress: ProgressFn | None, seed: int) -> FitLog:
        """`rounds` rounds, each a fresh AdamW over its share of the steps with its own warm-up
        and decay, keeping its best state; the net is perturbed between rounds and ends
        holding the best state of all rounds. schedule "fork": nif_fork.fork_phase."""
        if s.schedule == "fork":
            h, w = target.shape[-2:]
            compile_ = wants_compile(s.compile, h * w, s.steps, COMPILE_MIN_PIXEL_STEPS)
            return fork_phase(net, target, loss, s, qat, progress, seed, compile_, fork_restart)
        if s.signed:  # the loss on the [-1, 1] images
            loss = _signed(loss)
        total, rounds = (s.qat_steps, s.qat_rounds) if qat else (s.steps, s.rounds)
        lr, eta_min = (s.qat_lr, s.qat_eta_min) if qat else (s.lr, s.eta_min)
        warmup = 5 if qat else s.warmup
        phase = "qat" if qat else "fit"
        # perturbations draw from their own generator, so they leave the global stream alone;
        # the QAT phase's differs from the fit's
        gen = seeded(seed % (1 << 31) + qat, private=True)
        loss_fn = patched(loss, s.patching)
        best = BestState(net)  # over rounds: each round's best, as the round left the net
        planned, ran, seconds, last = 0, 0, 0.0, math.inf
        for r in range(rounds):
            n = total // rounds + (1 if r < total % rounds else 0)
            if n == 0:
                continue
            log = optimize(net, render, target, loss_fn, n, lr, optimizer="adamw",
                           weight_decay=0.0 if qat else s.weight_decay,
                           lr_factor=round_schedule(n, min(warmup, n), lr, eta_min),
                           phase=phase, progress=progress, offset=planned, total=total,
                           return_best=True)
            planned += n  # one progress bar over all rounds
            ran += log.steps
            seconds += log.seconds
            last = log.final_loss
            best.offer(log.best_loss, log.best_state)
            if r < rounds - 1:
                restart(net, (r + 1) / rounds, qat, gen)
        best.restore()
        return FitLog(ran, best.loss, last, seconds)
