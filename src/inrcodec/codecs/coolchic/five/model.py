"""Settings and model of `coolchic`, the Cool-chic 5-class codec.

Latents (one channel per level) and hyperlatents are free parameters times the encoder gain;
they reach the image through the upsampling and synthesis, and the rate through the ARM, whose
context for levels 0..2 includes the IFCE features of the grids coded before them
(`entropy`). `module_tensors` lists each network's weights and biases in the order the file
stores them (`MODULES`), shared by the quantiser, the encoder and the decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..arm import laplace_bits
from ..latents import proxy
from .entropy import ARM5, IFCE, Gather, arm_input
from .layout import DECODERS, Decoder, Grid, Layout
from .synthesis import Synthesis5
from .upsampling import Upsampling5

MODULES = ("arm", "ifce", "upsampling", "synthesis")  # file order of the quantised modules


@dataclass
class CoolChic5Settings:
    # -- model description (stored in the file) --
    decoder: str = "lop"  # lop, mop, hop or vhop (about 500 / 1000 / 2000 / 3000 MAC/pixel)
    hyperlatents: bool = True  # hyperlatent grids at levels 4.. feeding the IFCE
    ifce: bool = True  # inter-feature contexts for levels 0..2 (False: F = 0)
    preconcat: bool = True  # pre-concatenation filters in the upsampling
    stabilisers: bool = True  # linear stabilisers in the ARM and the synthesis
    # -- encoder only --
    lmbda: float = 1e-3
    iterations: int = 2000  # every training step, warm-up candidates included
    lr: float = 1e-2
    final_lr: float = 1e-4  # the hard-rounding phase's start
    min_lr: float = 1e-5  # where both cosine schedules end
    optimizer: str = "soap"  # networks: "soap" or "adam" (latents: always Adam)
    weight_decay: float = 0.01  # SOAP's decoupled weight decay
    warmup: bool = True  # the warm-up competition (5 candidates, then the best 2)
    hard_final: bool = True  # the last phase on hard-rounded latents
    final_share: float = 0.05  # its share of the iterations (5.0: 500 steps, 5 % at 10k)
    temperature: tuple[float, float] = (0.35, 0.08)  # soft-round, main phase start -> end
    noise: tuple[float, float] = (0.22, 0.15)  # Gaussian noise, main phase start -> end
    warmup_noise: float = 0.0  # 0: (-0.432 log10(lmbda) + 0.747) / 10, as 5.0
    warmup_rate_weight: float = 0.5  # the rate's weight when ranking candidates (train.py)
    latent_gain: float = 0.0  # 0: 16, 20 below lmbda 5e-4, 24 below 2e-4, as 5.0
    grad_clip: float = 0.1  # global L2 norm of the networks' gradients (not the latents')
    patience: int = 5000  # steps without a better evaluation before the best is reloaded
    eval_every: int = 100  # steps between evaluations on rounded latents (keep-best)
    quantize_search: bool = True  # False: fixed 2^-8 / 2^-12 steps (fast, for tests)
    rdoq: bool = True  # refine the quantised weights on the real RD cost
    rdoq_min_share: float = 0.0  # ... only where the weights are this share of the rate
    compile: bool | None = None  # torch.compile the training step; None: for long runs
    bf16: bool = False  # training forward under bf16 autocast

    @property
    def dec(self) -> Decoder:
        return DECODERS[self.decoder]

    def gain(self) -> float:
        if self.latent_gain > 0:
            return self.latent_gain
        return 24.0 if self.lmbda < 2e-4 else 20.0 if self.lmbda < 5e-4 else 16.0

    def sigma0(self) -> float:
        import math

        if self.warmup_noise > 0:
            return self.warmup_noise
        return (-0.432 * math.log10(max(self.lmbda, 1e-12)) + 0.747) / 10


def layout_of(s: CoolChic5Settings, height: int, width: int) -> Layout:
    return Layout(height, width, s.hyperlatents, s.dec.features if s.ifce else 0)


class CoolChic5Model(nn.Module):
    def __init__(self, s: CoolChic5Settings, height: int, width: int, channels: int) -> None:
        super().__init__()
        self.layout = layout = layout_of(s, height, width)
        self.grids = list(layout.order)  # parameter i is grid self.grids[i]
        self.params = nn.ParameterList(nn.Parameter(torch.zeros(g.shape)) for g in self.grids)
        # a tensor, not a float: a compiled step would bake a float in as a constant, and
        # each lambda class (gain 16, 20, 24) would compile a graph of its own
        self.register_buffer("gain", torch.tensor(s.gain()), persistent=False)
        d = s.dec
        self.arm = ARM5(d.spatial, layout.features, d.hidden, s.stabilisers)
        self.ifce = IFCE(layout)
        self.upsampling = Upsampling5(layout.levels, s.preconcat)
        self.synthesis = Synthesis5(d.synthesis, layout.levels, channels, s.stabilisers)
        self.num_pixels = height * width
        self._gather: Gather | None = None  # built on first use (the decoder never needs it)

    @property
    def gather(self) -> Gather:
        if self._gather is None:
            self._gather = Gather(self.layout, self.arm.spatial)
        return self._gather

    def latent_parameters(self) -> list[nn.Parameter]:
        return list(self.params)

    def network_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith("params.")]

    def values(self, mode: str, temperature: float | torch.Tensor = 0.3,
               noise: float | torch.Tensor = 0.0) -> torch.Tensor:
        """Every grid through the quantisation proxy `mode`, as one flat vector in coding
        order with a leading 0 (what `Gather`'s indices pick from)."""
        flat = torch.cat([p.reshape(-1) for p in self.params]) * self.gain
        q = proxy(flat, mode, temperature, noise, "gaussian")
        return torch.cat([q.new_zeros(1), q])

    def rounded(self) -> torch.Tensor:
        with torch.no_grad():
            return self.values("round")

    def grid_values(self, qz: torch.Tensor) -> dict[Grid, torch.Tensor]:
        out, i = {}, 1
        for g in self.grids:
            out[g] = qz[i:i + g.size].view(g.shape)
            i += g.size
        return out

    def render(self, qz: torch.Tensor) -> torch.Tensor:
        v = self.grid_values(qz)
        return self.synthesis(self.upsampling([v[g][None, None] for g in self.layout.latents]))

    def features(self, qz: torch.Tensor) -> dict[int, torch.Tensor]:
        return self.ifce(qz, self.gather)

    def bits(self, qz: torch.Tensor, features: dict[int, torch.Tensor] | None = None
             ) -> torch.Tensor:
        feats = self.features(qz) if features is None else features
        mu, log_scale = self.arm(arm_input(qz, self.gather, feats, self.arm.width))
        return laplace_bits(qz[1:].float(), mu.float(), log_scale.float())

    def forward(self, mode: str, temperature: float | torch.Tensor = 0.3,
                noise: float | torch.Tensor = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.values(mode, temperature, noise)
        return self.render(v).clamp(0, 1), self.bits(v)


def module_tensors(model: CoolChic5Model, name: str) -> tuple[list[torch.Tensor],
                                                              list[torch.Tensor]]:
    """(weights, biases) of a module in file order."""
    if name == "upsampling":
        return model.upsampling.tensors(), []
    layers: list = {"arm": model.arm.layers, "ifce": model.ifce.layers,
                    "synthesis": model.synthesis.convs}[name]()
    return [la.weight for la in layers], [la.bias for la in layers]
