"""SINCO's structural term: lambda * (1 - Dice(g(x_hat), s)) with a frozen segmentation net g.

    loss(x_hat, x) = fidelity(x_hat, x) + lambda * (1 - softDice(sigmoid(g(x_hat)), s))

g is the shipped U-Net (medical/unet.py), in eval mode with requires_grad False: gradients reach
the codec's parameters through x_hat, never g's weights. g(x) and g(x_hat) apply the same
function: each image is z-scored with its own statistics (unet.normalise, differentiable in
x_hat), exactly as a receiver segments the decoded image. (Normalising x_hat with x's statistics
instead was tried first: training then optimised for an input the receiver never sees and the
decoded images segmented badly at lambda >= 0.5.)

Reference s:
  - a ground-truth mask when one is given (`mask=`), or
  - s = [g(x) > 0] (the network's segmentation of the original) when there are no labels, which
    is what a deployment has.
Registry terms (registered by the medical plugin, `plugin.py`):
  sinco    reference: the image's labels when it comes with them (`inrcodec encode --mask`,
           `labels = ...` in a bench spec), else g(x)          e.g. "mse+1*sinco"
  sinco_g  reference: always g(x), labels or not
The reference and the normalisation statistics are cached per target tensor, so each training
step runs g once, on the reconstruction only.

lambda = 0 returns the fidelity loss object itself (the term is skipped, not multiplied by 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..losses import Loss, parse_loss
from .dice import soft_dice
from .unet import segment_logits, shipped_unet


class SincoTerm:
    """1 - softDice(sigmoid(g(pred)), s): a loss term (pred, target) -> scalar."""

    def __init__(self, net: nn.Module | None = None,
                 mask: np.ndarray | torch.Tensor | None = None) -> None:
        self._net = net
        self.mask = None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))
        self._key: tuple | None = None
        self._ref: torch.Tensor | None = None
        self._stats_src: torch.Tensor | None = None

    @property
    def net(self) -> nn.Module:
        if self._net is None:
            self._net = shipped_unet()
        return self._net

    def _prepare(self, target: torch.Tensor) -> None:
        # pointer + version identify the tensor; the sums guard against a new target that
        # happens to reuse the memory of a freed one (cheap next to the U-Net pass)
        t = target.detach()
        key = (t.data_ptr(), tuple(t.shape), t.device, t._version, float(t.sum()),
               float(t.square().sum()))
        if key == self._key:
            return
        net = self.net
        net.eval()
        gray = target.detach().mean(dim=1, keepdim=True) if target.shape[1] != 1 \
            else target.detach()
        net_param = next(net.parameters())
        gray = gray.to(net_param.dtype)
        if self.mask is not None:
            m = self.mask
            if m.ndim == 2:
                m = m[None, None]
            elif m.ndim == 3:
                m = m[:, None]
            if tuple(m.shape[-2:]) != tuple(target.shape[-2:]):
                raise ConfigError(f"sinco: mask shape {tuple(self.mask.shape)} does not match "
                                  f"the image {tuple(target.shape[-2:])}")
            ref = m.to(device=target.device, dtype=gray.dtype).expand(gray.shape[0], 1, -1, -1)
        else:
            net.to(target.device)
            with torch.no_grad():
                ref = (segment_logits(net, gray) > 0).to(gray.dtype)
        self._key, self._ref, self._stats_src = key, ref, gray

    def reference(self, target: torch.Tensor) -> torch.Tensor:
        """The cached reference mask s [N,1,H,W] (float 0/1) for this target."""
        self._prepare(target)
        return self._ref

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self._prepare(target)
        net = self.net.to(pred.device)
        x = pred if pred.shape[1] == 1 else pred.mean(dim=1, keepdim=True)
        logits = segment_logits(net, x.to(self._stats_src.dtype))
        return 1.0 - soft_dice(torch.sigmoid(logits), self._ref).mean()


class SincoLoss:
    """fidelity + lam * SincoTerm (a callable loss for `inrcodec.encode(..., loss=...)`).

    per_pixel: divide lam by the number of values per image (C*H*W), i.e. use SINCO's scale,
    where the fidelity is the squared L2 *norm* ||x - x_hat||^2 (a sum over pixels) while our
    fidelity losses are means: mean-MSE + (lam / N) * term is the paper's objective divided by
    N, the same optimisation for Adam."""

    def __init__(self, fidelity: Loss, lam: float, term: SincoTerm, name: str,
                 per_pixel: bool = False) -> None:
        self.fidelity, self.lam, self.term, self.__name__ = fidelity, lam, term, name
        self.per_pixel = per_pixel

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        lam = self.lam / pred[0].numel() if self.per_pixel else self.lam
        return self.fidelity(pred, target) + lam * self.term(pred, target)

    def __str__(self) -> str:
        return self.__name__


def sinco_loss(fidelity: str | Loss = "mse", lam: float = 1.0, *,
               mask: np.ndarray | torch.Tensor | None = None,
               net: nn.Module | None = None, per_pixel: bool = False) -> Loss:
    """fidelity + lam * (1 - Dice(g(x_hat), s)); s = `mask` if given, else g(x).

    `fidelity` is any registry expression ("mse", "0.8*l1+0.2*ssim") or callable. With lam = 0
    the fidelity loss itself is returned. per_pixel=True gives lam SINCO's meaning (fidelity =
    squared L2 norm, a sum over pixels): the term's weight becomes lam / (C*H*W).
    """
    if not (lam >= 0 and np.isfinite(lam)):
        raise ConfigError(f"sinco: lambda must be a finite number >= 0, got {lam}")
    fid = parse_loss(fidelity) if isinstance(fidelity, str) else fidelity
    if lam == 0:
        return fid
    fname = fidelity if isinstance(fidelity, str) else getattr(fidelity, "__name__", "custom")
    ref = "mask" if mask is not None else "g(x)"
    unit = "/px" if per_pixel else ""
    return SincoLoss(fid, float(lam), SincoTerm(net, mask),
                     f"{fname}+{lam:g}{unit}*sinco[{ref}]", per_pixel)


class RegistryTerm:
    """A registry term: 1 - Dice(g(pred), s) with the shipped U-Net, one cache per target.
    With `use_labels`, `bind(context)` takes s from the context's `labels` when present."""

    def __init__(self, use_labels: bool, mask: np.ndarray | None = None) -> None:
        self.use_labels = use_labels
        self.term = SincoTerm(mask=mask)

    def bind(self, context: Mapping[str, Any]) -> RegistryTerm:
        labels = context.get("labels") if self.use_labels else None
        return RegistryTerm(self.use_labels, None if labels is None else np.asarray(labels))

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.term(pred, target)
