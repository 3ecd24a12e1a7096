"""The optimisers of Cool-chic 5.0: SOAP for the networks, Adam for the latents.

`PairOptimizer` runs both as one torch optimiser (what fitting.train drives): its parameter
groups are both optimisers' groups (a schedule sets each group's lr), and its step first clips
the global L2 norm of the networks' gradients only (the latents are never clipped), then steps
both. SOAP is pytorch-optimizer's (the reference implementation's algorithm: Adam in the
eigenbasis of Shampoo's preconditioners, the first step only initialising them; decoupled
weight decay): measured faster here than heavyball's for these ~30 small tensors
(benchmarks/results/coolchic5_ablation.md).
"""

from __future__ import annotations

import torch

from ....errors import ConfigError

OPTIMIZERS = ("soap", "adam")


class PairOptimizer(torch.optim.Optimizer):
    # Not built through Optimizer.__init__: it owns no state of its own, only delegates.
    def __init__(self, nets: torch.optim.Optimizer | None, latents: torch.optim.Optimizer | None,
                 clip: float) -> None:
        self.parts = [o for o in (nets, latents) if o is not None]
        self.nets, self.clip = nets, clip
        self.defaults: dict = {}
        self.state: dict = {}

    @property  # type: ignore[override]
    def param_groups(self) -> list[dict]:
        return [g for o in self.parts for g in o.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.parts:
            o.zero_grad(set_to_none=set_to_none)

    def step(self, closure: None = None) -> None:  # type: ignore[override]
        if self.nets is not None and self.clip > 0:
            params = [p for g in self.nets.param_groups for p in g["params"]
                      if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, self.clip, foreach=True)
        for o in self.parts:
            o.step()


def network_optimizer(params: list[torch.nn.Parameter], kind: str, lr: float,
                      weight_decay: float, precondition_frequency: int
                      ) -> torch.optim.Optimizer:
    if kind == "soap":
        from pytorch_optimizer import SOAP

        return SOAP(params, lr=lr, betas=(0.95, 0.95), shampoo_beta=0.95,
                    weight_decay=weight_decay, precondition_frequency=precondition_frequency,
                    max_precondition_dim=256, merge_dims=False, precondition_1d=False,
                    correct_bias=True, eps=1e-8)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, fused=True)
    raise ConfigError(f"unknown optimizer {kind!r} (choose from {', '.join(OPTIMIZERS)})")


def latent_optimizer(params: list[torch.nn.Parameter], lr: float,
                     betas: tuple[float, float]) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=1e-8, fused=True)
