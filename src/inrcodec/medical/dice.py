"""Dice overlap: the hard Dice of two masks (a metric) and the soft Dice of probabilities (a
differentiable loss term)."""

from __future__ import annotations

import numpy as np
import torch


def dice(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """Hard Dice of two binary masks; 1.0 when both are empty."""
    p = np.asarray(pred, dtype=bool)
    t = np.asarray(target, dtype=bool)
    denom = p.sum() + t.sum()
    return 1.0 if denom == 0 else float(2.0 * np.logical_and(p, t).sum() / denom)


def soft_dice(prob: torch.Tensor, ref: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Per-sample soft Dice of probabilities and a (soft or hard) reference, [N,1,H,W] -> [N]."""
    dims = tuple(range(1, prob.ndim))
    inter = (prob * ref).sum(dims)
    return (2 * inter + eps) / (prob.sum(dims) + ref.sum(dims) + eps)
