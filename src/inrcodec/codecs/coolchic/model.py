"""Cool-chic's settings and its model: latents -> upsampling -> synthesis, with the ARM's rate.

`CoolChicSettings` holds v2's defaults, `CoolChicV1Settings` v1's; both codecs (`configs`) are
this one model with different defaults. `module_tensors` lists a module's weights and biases
in the order the file stores them (`MODULES`), shared by the quantiser, encoder and decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .arm import ARM, arm_macs, laplace_bits
from .latents import Latents, proxy
from .synthesis import Synthesis
from .upsampling import Upsampling

MODULES = ("arm", "upsampling", "synthesis")  # file order of the quantised modules


@dataclass
class CoolChicSettings:
    # -- model description (stored in the file) --
    latent_channels: tuple[int, ...] = (1, 1, 1, 1, 1, 1, 1)  # per level, finest first
    upsampling: str = "learned"  # "learned" (v2) or "bicubic" (v1)
    # no ReLU on the 3-channel layer (Cool-chic 3+): with it, channels that go negative die
    # and short fits land lower (benchmarks/results/coolchic_summary.md, diagnosis of v2)
    synthesis: str = "40-1-linear-relu,X-1-linear-none,X-3-residual-relu,X-3-residual-none"
    arm_context: int = 24
    arm_hidden: tuple[int, ...] = (24, 24)
    # hidden ARM layers as wide as their input are residual (Cool-chic 1.0/2.0); stored in the
    # file only when true
    arm_residual: bool = False
    # -- encoder only --
    # "default", or "cc1" / "cc2": train as the ICIP 2024 study's Cool-chic 1.0 / 2.0
    # adaptations do (recipes.py: their loops, initialisation, learned gains, clamp, rate model);
    # those ignore proxy, temperature, noise, latent_gain, ste_*, upsampling_lr_scale, compile
    # and bf16
    recipe: str = "default"
    lmbda: float = 1e-3
    steps: int = 4000
    lr: float = 1e-2
    latent_gain: float = 16.0  # latents = gain * parameters (Cool-chic's encoder gain)
    proxy: str = "softround"  # "softround" (v2) or "noise" (v1)
    temperature: tuple[float, float] = (0.3, 0.1)  # soft-round, start and end of `fit`
    noise: tuple[float, float] = (0.25, 0.1)  # soft-round noise scale, start and end of `fit`
    noise_type: str = "gaussian"  # "gaussian" (deviation = noise) or "uniform" (width = noise)
    # learning rate of the learned upsampling relative to `lr`; 1 as Cool-chic: with gradients
    # clipped, a lower rate fitted worse at a higher rate (coolchic_summary.md)
    upsampling_lr_scale: float = 1.0
    grad_clip: float = 0.1  # clip the gradients' global L2 norm to this (0: off), as Cool-chic
    ste_steps: int = 400
    ste_lr: float = 1e-4
    warmup_candidates: int = 4
    warmup_steps: int = 100
    quantize_search: bool = True  # False: fixed 2^-8 steps (faster, for tests)
    compile: bool = False  # torch.compile the fit phase (pays off only for long runs)
    bf16: bool = False  # warm-up and fit under bf16 autocast (CPUs with bf16 units, GPUs)


@dataclass
class CoolChicV1Settings(CoolChicSettings):
    """Cool-chic 1's model and proxy as the defaults."""

    upsampling: str = "bicubic"
    synthesis: str = "12-1-linear-relu,12-1-linear-relu,X-1-linear-none"
    arm_context: int = 12
    arm_hidden: tuple[int, ...] = (12, 12)
    proxy: str = "noise"
    warmup_candidates: int = 2
    # unclipped: clipped, a fit more often ends with dead latents parked at |y| ~ 0.5, about
    # half of which round to +-1 and multiply the rate (the noise proxy prices them at almost
    # nothing: test_noise_proxy_prices_half_integer_latents_at_almost_nothing;
    # benchmarks/results/coolchic_summary.md, v1's collapse)
    grad_clip: float = 0.0


# Cool-chic 1.0/2.0's rate model: ln b = -0.5 * clamp(r, -10, 13.8155) (b in about
# [1e-3, 148]) for the ARM's second output r; ours is ln b = r clamped to the coder's table
FORK_LOG_SCALE = (-10.0, 13.8155)
GAINS = {"default": "fixed", "cc1": "learned", "cc2": "learned-min1"}


class CoolChicModel(nn.Module):
    def __init__(self, s: CoolChicSettings, height: int, width: int, channels: int) -> None:
        super().__init__()
        self.latents = Latents(height, width, tuple(s.latent_channels), s.latent_gain,
                               GAINS.get(s.recipe, "fixed"))
        self.upsampling = Upsampling(len(s.latent_channels), s.upsampling != "bicubic",
                                     s.upsampling == "learned-2d")
        self.synthesis = Synthesis(s.synthesis, sum(s.latent_channels), channels)
        self.arm = ARM(s.arm_context, tuple(s.arm_hidden), s.arm_residual)
        self.num_pixels = height * width
        self.fork_scale = s.recipe != "default"  # the forks' rate model (see fold_log_scale)
        if s.recipe != "default":
            fork_init(self, s.recipe)

    def fold_log_scale(self) -> None:
        """Fold the forks' -0.5 into the ARM's last layer (exact): from here the model's second
        output is ln b, as the integer coder reads it."""
        if self.fork_scale:
            with torch.no_grad():
                self.arm.layers[-1].weight[1].mul_(-0.5)
                self.arm.layers[-1].bias[1].mul_(-0.5)
            self.fork_scale = False

    def render(self, latents: list[torch.Tensor]) -> torch.Tensor:
        return self.synthesis(self.upsampling(latents))

    def rounded_latents(self) -> list[torch.Tensor]:
        """The latents as they are coded: clamped and rounded, detached."""
        return [proxy(y.detach(), "round") for y in self.latents.values()]

    def bits(self, latents: list[torch.Tensor]) -> torch.Tensor:
        grids = [y.reshape(y.shape[1], 1, *y.shape[-2:]) for y in latents if y.shape[1]]
        mu, log_scale, x = self.arm(grids)
        if self.fork_scale:
            log_scale = -0.5 * log_scale.clamp(*FORK_LOG_SCALE)
            return laplace_bits(x.float(), mu.float(), log_scale.float(), clamp=False)
        return laplace_bits(x.float(), mu.float(), log_scale.float())  # fp32 under autocast

    def forward(self, mode: str, temperature: float | torch.Tensor = 0.3,
                noise: float | torch.Tensor = 1.0, noise_type: str = "uniform"
                ) -> tuple[torch.Tensor, torch.Tensor]:
        yq = [proxy(y, mode, temperature, noise, noise_type) for y in self.latents.values()]
        return self.render(yq), self.bits(yq)

    def macs_per_pixel(self) -> float:
        n_lat = sum(c * h * w for c, (h, w) in zip(self.latents.channels, self.latents.shapes,
                                                    strict=True))
        ups = 2 * 8 * sum(self.latents.channels[1:]) * 2  # rough: separable 8 taps, 2 passes
        return (self.synthesis.macs_per_pixel() + ups +
                arm_macs(self.arm.context, tuple(layer.out_features for layer in
                                                 self.arm.layers[:-1])) * n_lat /
                self.num_pixels)


@torch.no_grad()
def fork_init(model: CoolChicModel, recipe: str) -> None:
    """Cool-chic 1.0/2.0's initialisation: linear ARM layers N(0, 1) / out^2 (1.0's synthesis
    too), 2.0's synthesis convolutions torch's default / out^2, biases 0, residual layers 0."""
    for layer, res in zip(model.arm.layers, model.arm.residual, strict=True):
        if res:
            layer.weight.zero_()
        else:
            layer.weight.copy_(torch.randn_like(layer.weight) / layer.out_features ** 2)
        layer.bias.zero_()
    for conv, spec in zip(model.synthesis.convs, model.synthesis.specs, strict=True):
        if spec.residual:
            continue  # zero already
        if recipe == "cc1":
            conv.weight.copy_(torch.randn_like(conv.weight) / conv.out_channels ** 2)
        else:
            conv.weight.div_(conv.out_channels ** 2)
        conv.bias.zero_()


def module_tensors(model: CoolChicModel, name: str) -> tuple[list[torch.Tensor],
                                                             list[torch.Tensor]]:
    """(weights, biases) of a module in file order; bicubic upsampling has none."""
    if name == "arm":
        layers = list(model.arm.layers)
    elif name == "synthesis":
        layers = list(model.synthesis.convs)
    else:
        up = model.upsampling.coded()
        return ([up] if isinstance(up, nn.Parameter) else []), []
    return [la.weight for la in layers], [la.bias for la in layers]
