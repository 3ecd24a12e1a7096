"""NeRF-style positional-encoding MLP: the "vanilla INR" of SINCO.

gamma(p) = (p, sin(2^k pi p), cos(2^k pi p) for k < L) for each coordinate, then a ReLU MLP
whose encoded input is concatenated again into the hidden layers listed in `skips` (NeRF's
residual input connections), and a linear output layer.

The `sinco` preset is SINCO's INR (Gao et al., ICASSP 2023) as far as its text and the
architecture of its group's earlier INR (CoIL, Sun et al., IEEE TCI 2021, the same lab) state
it: L_f = 12 frequency bands of base 2 and the encoded input concatenated again into every
second hidden layer (CoIL's skip layers 2, 4, ...), sized for 1.2 bpp by SINCO's definition
(16 bits x parameters / pixels) on a 240 x 240 slice: 4 hidden layers of width 24, skip into
layer 2, 4249 parameters, 1.18 bpp. Two details of CoIL are not reproduced: its encoding omits
the raw coordinates p (here 2 of the 50 inputs), and it ends with a linear layer of half width
before the output (a product of two linear maps, which adds parameters but no expressiveness).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...errors import ConfigError
from .base import CoordinateNet, WeightINRCodec
from .fourier import fourier_features

BASE = 2.0  # NeRF's octaves: frequencies 2^k pi


class PEMLP(CoordinateNet):
    def __init__(self, channels: int, layers: int, width: int, bands: int,
                 skips: tuple[int, ...]) -> None:
        super().__init__()
        self.out_channels, self.bands, self.skips = channels, bands, set(skips)
        enc = 2 + 4 * bands
        self.hidden = nn.ModuleList()
        for i in range(layers):
            fan_in = enc if i == 0 else width + (enc if i in self.skips else 0)
            self.hidden.append(nn.Linear(fan_in, width))
        self.head = nn.Linear(width, channels)

    def points(self, enc: torch.Tensor) -> torch.Tensor:
        h = enc
        for i, layer in enumerate(self.hidden):
            if i in self.skips:
                h = torch.cat([h, enc], dim=1)
            h = torch.relu(layer(h))
        return self.head(h) + 0.5

    def point_inputs(self, height: int, width: int) -> tuple[torch.Tensor, ...]:
        p = next(self.parameters())
        return (fourier_features(height, width, self.bands, BASE, p.device, p.dtype),)


@dataclass
class PEMLPSettings:
    layers: int = 6
    width: int = 48
    bands: int = 12
    skips: tuple[int, ...] = (3,)
    bits: int = 12
    steps: int = 2000
    lr: float = 1e-3
    qat_steps: int | None = None  # None: 10% of steps
    qat_lr: float = 1e-4
    compile: bool | None = None  # torch.compile the fit phase; None: when long enough


class PEMLPCodec(WeightINRCodec):
    name = "pe-mlp"
    settings_cls = PEMLPSettings
    decode_fields = ("layers", "width", "bands", "skips", "bits")
    presets = {
        "default": {},
        "fast": {"steps": 500},
        "slow": {"steps": 20000},
        "small": {"layers": 4, "width": 24, "skips": (2,)},
        "large": {"layers": 8, "width": 96, "skips": (4,)},
        # SINCO's INR at 1.2 bpp on 240 x 240 (see the module docstring)
        "sinco": {"layers": 4, "width": 24, "bands": 12, "skips": (2,)},
    }

    @classmethod
    def validate(cls, s: PEMLPSettings) -> None:
        super().validate(s)
        if not (1 <= s.layers <= 64 and 1 <= s.width <= 4096 and 0 <= s.bands <= 20):
            raise ConfigError("pe-mlp: layers 1..64, width 1..4096, bands 0..20")
        if not all(isinstance(k, int) and 1 <= k < s.layers for k in s.skips):
            raise ConfigError("pe-mlp: skips must name hidden layers 1..layers-1")

    def build(self, settings: PEMLPSettings, channels: int) -> PEMLP:
        return PEMLP(channels, settings.layers, settings.width, settings.bands,
                     tuple(settings.skips))
