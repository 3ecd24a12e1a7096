"""COIN (Dupont et al., 2021): a SIREN overfitted to the image, its weights are the bitstream.

Sine layers sin(w0 (W x + b)) with w0 = 30 and SIREN initialisation (first layer U(-1/in, 1/in),
later layers U(-sqrt(6/in)/w0, sqrt(6/in)/w0)), then a linear output layer. `layers` counts the
sine layers, as COIN's "5x20" (5 layers of width 20, 0.074 bpp on Kodak at 16 bits/weight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ...errors import ConfigError
from .base import CoordinateNet, WeightINRCodec
from .fourier import pixel_grid


class SineLayer(nn.Module):
    def __init__(self, fan_in: int, fan_out: int, w0: float, first: bool) -> None:
        super().__init__()
        self.w0 = w0
        self.linear = nn.Linear(fan_in, fan_out)
        bound = 1.0 / fan_in if first else math.sqrt(6.0 / fan_in) / w0
        nn.init.uniform_(self.linear.weight, -bound, bound)
        nn.init.uniform_(self.linear.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.w0 * self.linear(x))


class Siren(CoordinateNet):
    def __init__(self, channels: int, layers: int, width: int, w0: float = 30.0,
                 w0_first: float = 30.0) -> None:
        super().__init__()
        self.out_channels = channels
        dims = [2] + [width] * layers
        self.body = nn.Sequential(*[
            SineLayer(dims[i], dims[i + 1], w0_first if i == 0 else w0, first=i == 0)
            for i in range(layers)])
        self.head = nn.Linear(width, channels)
        bound = math.sqrt(6.0 / width) / w0
        nn.init.uniform_(self.head.weight, -bound, bound)
        nn.init.zeros_(self.head.bias)

    def points(self, coords: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(coords)) + 0.5  # start near mid-grey

    def point_inputs(self, height: int, width: int) -> tuple[torch.Tensor, ...]:
        p = next(self.parameters())
        return (pixel_grid(height, width, p.device, p.dtype),)


@dataclass
class SirenSettings:
    layers: int = 10
    width: int = 28
    w0: float = 30.0
    bits: int = 12
    steps: int = 2000
    lr: float = 2e-4
    qat_steps: int | None = None  # None: 10% of steps
    qat_lr: float = 2e-5
    compile: bool | None = None  # torch.compile the fit phase; None: when long enough


COIN_SIZES = {"5x20": (5, 20), "10x28": (10, 28), "10x40": (10, 40), "13x49": (13, 49)}


class SirenCodec(WeightINRCodec):
    name = "siren"
    settings_cls = SirenSettings
    decode_fields = ("layers", "width", "w0", "bits")
    presets = {
        "default": {},
        "fast": {"steps": 500},
        "slow": {"steps": 20000},
        **{k: {"layers": lw[0], "width": lw[1]} for k, lw in COIN_SIZES.items()},
    }

    @classmethod
    def validate(cls, s: SirenSettings) -> None:
        super().validate(s)
        if not (1 <= s.layers <= 64 and 1 <= s.width <= 4096):
            raise ConfigError("siren: layers must be 1..64 and width 1..4096")
        if not (0 < s.w0 <= 1000):
            raise ConfigError("siren: w0 must be in (0, 1000]")

    def build(self, settings: SirenSettings, channels: int) -> Siren:
        return Siren(channels, settings.layers, settings.width, settings.w0, settings.w0)

