"""SSIM and MS-SSIM that also work on small images.

MS-SSIM of images whose shorter side is > 160 px is pytorch-msssim's (public `ms_ssim`: 11-px
Gaussian window, sigma 1.5, 5 levels). Its `ssim()` squeezes singleton dimensions (a 1xN image
breaks) and its MS-SSIM needs 161 px, so the small SSIM core is owned here, written as
pytorch-msssim computes it (separable Gaussian filter, the SSIM and contrast-structure maps) so
the numbers are the same. Smaller images keep the formula and weights but use fewer levels (the
first L of the standard five, renormalised to sum 1) and, below 11 px, a smaller odd window: L
is the largest level count with side > (window - 1) * 2^(L - 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim as _ms_ssim

MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WIN = 11
SIGMA = 1.5
K = (0.01, 0.03)


def window_for(side: int) -> int:
    """Largest odd window <= min(11, side)."""
    w = min(WIN, side)
    return w if w % 2 == 1 else w - 1


def ms_levels_for(side: int, win: int) -> int:
    levels = 1
    while levels < len(MS_WEIGHTS) and side > (win - 1) * 2 ** levels:
        levels += 1
    return levels


def gaussian_window(size: int, sigma: float = SIGMA) -> torch.Tensor:
    """The normalised 1-D Gaussian [1, 1, size] (float32, as pytorch-msssim builds it)."""
    coords = torch.arange(size, dtype=torch.float) - size // 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return (g / g.sum())[None, None]


def _blur(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Separable valid Gaussian filtering of [N,C,H,W], one channel at a time."""
    c = x.shape[1]
    out = F.conv2d(x, win.transpose(2, -1), groups=c)
    return F.conv2d(out, win.transpose(3, -1), groups=c)


def ssim_maps(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel means [N, C] of the SSIM map and of the contrast-structure map
    (data range 1)."""
    c1, c2 = K[0] ** 2, K[1] ** 2
    win = win.to(x.device, dtype=x.dtype)
    mu1, mu2 = _blur(x, win), _blur(y, win)
    mu1_sq, mu2_sq, mu1_mu2 = mu1.pow(2), mu2.pow(2), mu1 * mu2
    sigma1_sq = _blur(x * x, win) - mu1_sq
    sigma2_sq = _blur(y * y, win) - mu2_sq
    sigma12 = _blur(x * y, win) - mu1_mu2
    cs_map = (2 * sigma12 + c2) / (sigma1_sq + sigma2_sq + c2)
    ssim_map = ((2 * mu1_mu2 + c1) / (mu1_sq + mu2_sq + c1)) * cs_map
    return torch.flatten(ssim_map, 2).mean(-1), torch.flatten(cs_map, 2).mean(-1)


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of [N,C,H,W] images in [0,1]."""
    per_channel, _ = ssim_maps(x, y, _kernel(window_for(min(x.shape[-2:])), x))
    return per_channel.mean()


def _kernel(win: int, x: torch.Tensor) -> torch.Tensor:
    return gaussian_window(win).to(x).repeat([x.shape[1], 1, 1, 1])


def ms_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean MS-SSIM of [N,C,H,W] images in [0,1], with fewer levels for small images."""
    side = min(x.shape[-2:])
    win = window_for(side)
    levels = ms_levels_for(side, win)
    if levels == len(MS_WEIGHTS) and win == WIN:
        return _ms_ssim(x, y, data_range=1.0, win_size=WIN, win_sigma=SIGMA)
    weights = x.new_tensor(MS_WEIGHTS[:levels])
    weights = weights / weights.sum()
    kernel = _kernel(win, x)
    mcs = []
    for i in range(levels):
        ssim_pc, cs = ssim_maps(x, y, kernel)
        if i < levels - 1:
            mcs.append(torch.relu(cs))
            pad = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=pad)
            y = F.avg_pool2d(y, kernel_size=2, padding=pad)
    stacked = torch.stack(mcs + [torch.relu(ssim_pc)], dim=0)
    return torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean()
