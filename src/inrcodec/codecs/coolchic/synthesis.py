"""Synthesis: the network from upsampled latents to pixels, described by a layer spec.

A spec is a comma-separated list of layers "OUT-K-TYPE-ACT":
  OUT   output channels, or X for the image's channel count
  K     odd kernel size (1 = pixel-wise; larger kernels use replicate padding)
  TYPE  linear (a convolution) or residual (convolution + its input; OUT must equal its
        input channels; starts as the identity, weights and bias zero, as Cool-chic does)
  ACT   relu, leakyrelu, gelu or none
The last layer must output X (or the image's channel count). Cool-chic v1's pixel-wise MLP is
"12-1-linear-relu,12-1-linear-relu,X-1-linear-none".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError

ACTIVATIONS = ("relu", "leakyrelu", "gelu", "none")
_LAYER = re.compile(r"^(\d+|X)-(\d+)-(linear|residual)-([a-z]+)$")
MAX_LAYERS, MAX_WIDTH, MAX_KERNEL = 16, 256, 7


@dataclass(frozen=True)
class LayerSpec:
    out: int | None  # None: the image's channels
    kernel: int
    residual: bool
    act: str


def parse_spec(spec: str) -> list[LayerSpec]:
    """Parse and check a layer spec; any problem raises ConfigError naming the layer."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("synthesis spec is empty (expected e.g. '40-1-linear-relu,"
                          "X-1-linear-none')")
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) > MAX_LAYERS:
        raise ConfigError(f"synthesis spec has {len(parts)} layers (at most {MAX_LAYERS})")
    layers = []
    for n, part in enumerate(parts, 1):
        m = _LAYER.match(part)
        if not m:
            raise ConfigError(f"synthesis layer {n} {part!r}: expected OUT-KERNEL-TYPE-ACT, "
                              "e.g. '40-1-linear-relu' (TYPE linear|residual)")
        out = None if m.group(1) == "X" else int(m.group(1))
        kernel, act = int(m.group(2)), m.group(4)
        if out is not None and not 1 <= out <= MAX_WIDTH:
            raise ConfigError(f"synthesis layer {n} {part!r}: width must be 1..{MAX_WIDTH}")
        if kernel % 2 == 0 or not 1 <= kernel <= MAX_KERNEL:
            raise ConfigError(f"synthesis layer {n} {part!r}: kernel must be odd, "
                              f"1..{MAX_KERNEL}")
        if act not in ACTIVATIONS:
            raise ConfigError(f"synthesis layer {n} {part!r}: activation must be one of "
                              f"{', '.join(ACTIVATIONS)}")
        layers.append(LayerSpec(out, kernel, m.group(3) == "residual", act))
    return layers


def resolve(spec: str, in_channels: int, out_channels: int) -> list[tuple[int, int, LayerSpec]]:
    """(in, out, layer) per layer for a given input/output channel count."""
    layers = parse_spec(spec)
    last = layers[-1]
    if last.out is not None and last.out != out_channels:
        raise ConfigError(f"synthesis spec ends with {last.out} channels but the image has "
                          f"{out_channels} (use X)")
    rows, c = [], in_channels
    for n, layer in enumerate(layers, 1):
        out = out_channels if layer.out is None else layer.out
        if layer.residual and out != c:
            raise ConfigError(f"synthesis layer {n}: a residual layer needs as many output "
                              f"as input channels ({c}), not {out}")
        rows.append((c, out, layer))
        c = out
    return rows


def replicate_pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """Replicate-pad the last two dims by p (concatenation of edge copies: the same values as
    F.pad(mode="replicate"), whose backward torch.compile mishandles on CPU)."""
    if p == 0:
        return x
    h, w = x.shape[-2:]
    x = torch.cat([x[..., :1, :].expand(*x.shape[:-2], p, w), x,
                   x[..., -1:, :].expand(*x.shape[:-2], p, w)], dim=-2)
    return torch.cat([x[..., :1].expand(*x.shape[:-1], p), x,
                      x[..., -1:].expand(*x.shape[:-1], p)], dim=-1)


def _conv_taps(xp: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Valid convolution of padded [1, C, H+k-1, W+k-1] as one small matmul per kernel tap:
    the decoder's float64 path (torch has no fast float64 convolution on CPU; this is much
    faster there than its generic one)."""
    k = weight.shape[-1]
    h, w = xp.shape[-2] - k + 1, xp.shape[-1] - k + 1
    out = bias[:, None].expand(-1, h * w).clone()
    for i in range(k):
        for j in range(k):
            tap = xp[0, :, i:i + h, j:j + w].reshape(xp.shape[1], -1)
            out.addmm_(weight[:, :, i, j], tap)
    return out.view(1, -1, h, w)


def _act(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "relu":
        return torch.relu(x)
    if name == "leakyrelu":
        return F.leaky_relu(x, 0.01)
    if name == "gelu":
        return F.gelu(x)
    return x


class Synthesis(nn.Module):
    def __init__(self, spec: str, in_channels: int, out_channels: int) -> None:
        super().__init__()
        rows = resolve(spec, in_channels, out_channels)
        self.specs = [layer for _, _, layer in rows]
        self.convs = nn.ModuleList()
        for c_in, c_out, layer in rows:
            conv = nn.Conv2d(c_in, c_out, layer.kernel)
            if layer.residual:
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
            self.convs.append(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[1, C, H, W] -> [1, out, H, W]. Pixel-wise layers are W @ X on the [C, H*W] view
        (feature-major: much faster on CPU than X @ W.T on [H*W, C] for these narrow layers);
        wider kernels are convolutions on a channels-last copy (faster than NCHW for so few
        channels)."""
        _, _, height, width = x.shape
        h = x
        for conv, layer in zip(self.convs, self.specs, strict=True):
            if layer.kernel == 1:  # activation on the 2-D result too: under torch.compile
                h2 = h.reshape(h.shape[1], -1)  # a 4-D ReLU mask cost a strided copy
                y = torch.addmm(conv.bias[:, None], conv.weight.flatten(1), h2)
                y = _act(layer.act, y + h2 if layer.residual else y)
                h = y.view(1, -1, height, width)
                continue
            if h.dtype == torch.float64 and not torch.is_grad_enabled():
                y = _conv_taps(replicate_pad(h, layer.kernel // 2), conv.weight, conv.bias)
            else:
                xc = replicate_pad(h, layer.kernel // 2)
                y = conv(xc.contiguous(memory_format=torch.channels_last)).contiguous()
            h = _act(layer.act, y + h if layer.residual else y)
        return h

    def forward_strips(self, x: torch.Tensor, rows: int = 32) -> torch.Tensor:
        """forward() in horizontal strips of `rows` rows, each with the halo its wider kernels
        need: the same values as forward() up to float64 rounding (every output row sees the
        same inputs; BLAS may order a sum differently for another row length) and faster for
        a large image, its intermediates staying in cache. Encoder and decoder both
        render through this, so the decoded file equals the encoder's reconstruction."""
        halo = sum(layer.kernel // 2 for layer in self.specs)
        height = x.shape[-2]
        if height <= rows + 2 * halo:
            return self(x)
        out = []
        for r0 in range(0, height, rows):
            a, b = max(0, r0 - halo), min(height, r0 + rows + halo)
            y = self(x[..., a:b, :].contiguous())
            out.append(y[..., r0 - a:r0 - a + min(rows, height - r0), :])
        return torch.cat(out, dim=-2)

    def macs_per_pixel(self) -> int:
        return sum(c.weight.numel() for c in self.convs)
