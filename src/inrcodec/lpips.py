"""LPIPS (Zhang et al., 2018), AlexNet backbone, linear layers v0.1: our own implementation.

d(x, y) = sum over the five AlexNet ReLU outputs l of
          mean_hw( || w_l * (n(f_l(x)) - n(f_l(y))) ||^2 ),  n = unit norm over channels,
with inputs mapped from [0, 1] to [-1, 1] and shifted/scaled as the reference does. Weights ship
in the package (weights/lpips_alex.npz, built by scripts/convert_lpips_weights.py); no
torchvision and no download. AlexNet's strides need a side of at least 31 px: smaller images are
padded (replicate) to 32 px, the same padding for both images, so tiny inputs give a finite
value instead of an error.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MIN_SIDE = 32
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
# (out, in, kernel, stride, padding) of AlexNet's five convolutions; max-pools after 1 and 2
_CONVS = ((64, 3, 11, 4, 2), (192, 64, 5, 1, 2), (384, 192, 3, 1, 1), (256, 384, 3, 1, 1),
          (256, 256, 3, 1, 1))


class LPIPS(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(i, o, k, s, p) for o, i, k, s, p in _CONVS)
        self.lins = nn.ModuleList(nn.Conv2d(o, 1, 1, bias=False) for o, *_ in _CONVS)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        path = resources.files("inrcodec") / "weights" / "lpips_alex.npz"
        with resources.as_file(path) as p, np.load(p) as w:
            with torch.no_grad():
                for i in range(5):
                    self.convs[i].weight.copy_(torch.from_numpy(w[f"conv{i}.weight"].astype("f4")))
                    self.convs[i].bias.copy_(torch.from_numpy(w[f"conv{i}.bias"].astype("f4")))
                    self.lins[i].weight.copy_(torch.from_numpy(w[f"lin{i}.weight"].astype("f4")))
        self.requires_grad_(False)
        self.eval()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - self.shift) / self.scale
        feats = []
        for i, conv in enumerate(self.convs):
            if i in (1, 2):
                h = F.max_pool2d(h, 3, 2)
            h = F.relu(conv(h))
            feats.append(h)
        return feats

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y: [N, C, H, W] in [0, 1] (C = 1, 3 or 4) -> [N] distances."""
        x, y = _prepare(x), _prepare(y)
        total = x.new_zeros(x.shape[0])
        for lin, fx, fy in zip(self.lins, self.features(x), self.features(y), strict=True):
            diff = (_unit(fx) - _unit(fy)).square()
            total = total + lin(diff).mean(dim=(1, 2, 3))
        return total


def _unit(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return f / (f.square().sum(dim=1, keepdim=True).sqrt() + eps)


def _prepare(x: torch.Tensor) -> torch.Tensor:
    x = x.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 4:
        x = x[:, :3]
    h, w = x.shape[-2:]
    if h < MIN_SIDE or w < MIN_SIDE:
        x = F.pad(x, (0, max(0, MIN_SIDE - w), 0, max(0, MIN_SIDE - h)), mode="replicate")
    return x * 2.0 - 1.0


@functools.lru_cache(maxsize=4)
def _model(device: str) -> LPIPS:
    return LPIPS().to(device)


def lpips(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """LPIPS distance per image of two [N, C, H, W] batches in [0, 1] (differentiable in x, y)."""
    model = _model(str(x.device))
    return model(x, y)
