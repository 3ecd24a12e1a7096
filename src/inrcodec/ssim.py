"""SSIM and MS-SSIM (pytorch-msssim) that also work on small images.

pytorch-msssim's MS-SSIM needs the shorter side > 160 px (11-px window, 5 levels). For smaller
images we keep its formula and weights but use fewer levels (the first L of the standard five,
renormalised to sum 1) and, below 11 px, a smaller odd window: L is the largest level count with
side > (window - 1) * 2^(L - 1). Full-size images get exactly pytorch-msssim's numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim as _ms_ssim
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

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


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of [N,C,H,W] images in [0,1]."""
    # pytorch-msssim's ssim() squeezes singleton dims (breaks 1xN images): call its core.
    kernel = _kernel(window_for(min(x.shape[-2:])), x)
    per_channel, _ = _ssim(x, y, win=kernel, data_range=1.0, size_average=False, K=K)
    return per_channel.mean()


def _kernel(win: int, x: torch.Tensor) -> torch.Tensor:
    return _fspecial_gauss_1d(win, SIGMA).to(x).repeat([x.shape[1], 1, 1, 1])


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
        ssim_pc, cs = _ssim(x, y, win=kernel, data_range=1.0, size_average=False,
                            K=K)
        if i < levels - 1:
            mcs.append(torch.relu(cs))
            pad = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=pad)
            y = F.avg_pool2d(y, kernel_size=2, padding=pad)
    stacked = torch.stack(mcs + [torch.relu(ssim_pc)], dim=0)
    return torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean()
