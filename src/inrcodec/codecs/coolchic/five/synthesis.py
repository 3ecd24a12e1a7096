"""The 5.0 synthesis: v2's layer-spec network plus a linear stabiliser, 5.0's initialisation.

out = trunk(z) + stab(z), where stab is a 1x1 convolution from the upsampled latents z to the
output channels. Initialisation (Cool-chic 5.0): biases zero, residual layers zero (they start
as the identity), other layers and the stabiliser uniform in +-1 / (out^2 sqrt(in k^2)): a
near-zero start that lets every layer find its scale under SOAP.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..synthesis import Synthesis


def _init_small(conv: nn.Conv2d) -> None:
    if conv.weight.is_meta:  # a cost check's structure: nothing to draw
        return
    c_out, c_in, k, _ = conv.weight.shape
    a = 1.0 / (c_out ** 2 * math.sqrt(c_in * k * k))
    with torch.no_grad():
        conv.weight.uniform_(-a, a)
        conv.bias.zero_()


class Synthesis5(nn.Module):
    def __init__(self, spec: str, in_channels: int, out_channels: int,
                 stabiliser: bool = True) -> None:
        super().__init__()
        self.trunk = Synthesis(spec, in_channels, out_channels)
        for conv, layer in zip(self.trunk.convs, self.trunk.specs, strict=True):
            if not layer.residual:
                _init_small(conv)
        self.stab = nn.Conv2d(in_channels, out_channels, 1) if stabiliser else None
        if self.stab is not None:
            _init_small(self.stab)

    def convs(self) -> list[nn.Conv2d]:
        """File order: the trunk's layers, then the stabiliser."""
        return [*self.trunk.convs, *([self.stab] if self.stab is not None else [])]

    def _stab(self, x: torch.Tensor) -> torch.Tensor:
        assert self.stab is not None
        _, c, h, w = x.shape
        y = torch.addmm(self.stab.bias[:, None], self.stab.weight.flatten(1), x.reshape(c, -1))
        return y.view(1, -1, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.trunk(x)
        return y if self.stab is None else y + self._stab(x)

    def forward_strips(self, x: torch.Tensor, rows: int = 32) -> torch.Tensor:
        """The decoder's path: the trunk in row strips (see Synthesis.forward_strips)."""
        y = self.trunk.forward_strips(x, rows)
        return y if self.stab is None else y + self._stab(x)

    def macs_per_pixel(self) -> int:
        return sum(c.weight.numel() for c in self.convs())
