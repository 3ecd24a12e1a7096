"""Quantisation of the networks: a joint (weight step, bias step) search per module, then a
rate-distortion refinement of the integers (Cool-chic 5.0.1's RDOQ).

Steps are powers of two, 2^-k. Modules are quantised in file order (arm, ifce, upsampling,
synthesis), each with the earlier ones already quantised; every (kw, kb) pair of `K_RANGES`
is scored by the real cost D + lmbda * (latent bits + the module's weight bits) / pixels on
rounded latents and an 8-bit-rounded image, and pairs whose integers exceed `MAX_INT` are
refused. The weight bits are rdquant's estimate (a discrete Laplace per tensor).

RDOQ then visits every integer of every module (weights, then biases) in a seeded random
order and moves it by -1, -2, ... steps while that lowers the module's part of the cost, then
by +1, +2, ... (at most `RDOQ_REACH`), keeping the best; a move is kept only if it strictly
lowers the cost, so the refinement never raises it. Only the parts of the cost that a module
moves are recomputed: the rate for the ARM and the IFCE, the image for the others.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ....fitting import encode_end
from ....losses import Loss
from ..arm import laplace_bits
from ..rdquant import estimate_bits, to_ints
from .entropy import arm_inputs
from .model import MODULES, CoolChic5Model, CoolChic5Settings, module_tensors

# (kw range, kb range) per module; upsampling has no bias
K_RANGES = {"arm": (range(0, 9), range(0, 17)), "ifce": (range(0, 9), range(0, 17)),
            "upsampling": (range(0, 13), range(0, 1)), "synthesis": (range(0, 13), range(0, 25))}
FIXED_K = {"arm": (8, 12), "ifce": (8, 12), "upsampling": (12, 0), "synthesis": (12, 16)}
MAX_INT = 65535
RDOQ_REACH = 15


@dataclass
class QuantResult:
    steps: dict[str, tuple[int, int]]
    cost: float  # after the step search
    rdoq_cost: float  # after RDOQ (= cost without it)
    latent_bits: float
    moves: int  # integers RDOQ changed
    evaluations: int


class Evaluator:
    """The quantised model's cost on its rounded latents, by parts, with caches."""

    def __init__(self, model: CoolChic5Model, loss: Loss, target: torch.Tensor, lmbda: float,
                 levels: int) -> None:
        self.model, self.loss, self.target, self.lmbda = model, loss, target, lmbda
        self.levels = levels  # 2^bit_depth - 1: the decoded image's grid
        self.values = model.rounded()
        self.count = 0
        self.image_cost = self.distortion()
        self.features = model.features(self.values)
        self.latent_bits = self.rate()

    def distortion(self) -> float:
        self.count += 1
        img = self.model.render(self.values).clamp(0, 1)
        img = torch.round(img * self.levels) / self.levels
        return float(self.loss(img, self.target))

    def rate(self, refresh_features: bool = False) -> float:
        self.count += 1
        if refresh_features:
            self.features = self.model.features(self.values)
        ctx, x = arm_inputs(self.model.arm, self.model.layout, self.values, self.features)
        mu, ls = self.model.arm(ctx)
        return float(laplace_bits(x, mu, ls))

    def weight_bits(self, name: str, k: tuple[int, int]) -> float:
        ws, bs = module_tensors(self.model, name)
        return estimate_bits([to_ints(t, k[0]) for t in ws] + [to_ints(t, k[1]) for t in bs])

    def refresh(self, name: str) -> None:
        """Recompute the part of the cost that module `name` moves."""
        if name == "arm":
            self.latent_bits = self.rate()
        elif name == "ifce":
            self.latent_bits = self.rate(refresh_features=True)
        else:
            self.image_cost = self.distortion()

    def cost(self, name: str, k: tuple[int, int]) -> float:
        return self.image_cost + self.lmbda * (self.latent_bits + self.weight_bits(name, k)) \
            / self.model.num_pixels


def _set(tensors: list[torch.Tensor], originals: list[torch.Tensor], ks: list[int]) -> bool:
    for t, o, k in zip(tensors, originals, ks, strict=True):
        q = torch.round(o * 2.0 ** k)
        if q.numel() and float(q.abs().max()) > MAX_INT:
            return False
        t.copy_(q * 2.0 ** -k)
    return True


def search_steps(ev: Evaluator, name: str, fixed: bool) -> tuple[tuple[int, int], float]:
    ws, bs = module_tensors(ev.model, name)
    tensors = ws + bs
    if not tensors:  # e.g. no IFCE
        return (0, 0), ev.cost(name, (0, 0))
    originals = [t.detach().clone() for t in tensors]
    kinds = [0] * len(ws) + [1] * len(bs)
    kw_range, kb_range = K_RANGES[name]
    pairs = [FIXED_K[name]] if fixed else [(a, b) for a in kw_range for b in kb_range]
    if not bs:
        pairs = sorted({(a, 0) for a, _ in pairs})
    end = encode_end()
    best, best_cost = None, math.inf
    for kw, kb in sorted(pairs, key=lambda p: (abs(p[0] - FIXED_K[name][0]), p)):
        if best is not None and end is not None and time.perf_counter() >= end:
            break  # a late encode keeps the best steps tried so far
        if not _set(tensors, originals, [(kw, kb)[i] for i in kinds]):
            continue
        ev.refresh(name)
        c = ev.cost(name, (kw, kb))
        if c < best_cost:
            best, best_cost = (kw, kb), c
    if best is None:  # nothing fits the integer bound: the coarsest steps do
        best = (min(kw_range), min(kb_range))
    _set(tensors, originals, [best[i] for i in kinds])
    ev.refresh(name)
    return best, ev.cost(name, best)


def rdoq_module(ev: Evaluator, name: str, k: tuple[int, int], gen: torch.Generator) -> int:
    """Greedy integer moves on module `name`; returns how many integers changed."""
    ws, bs = module_tensors(ev.model, name)
    moves = 0
    end = encode_end()
    for group, step in ((ws, 2.0 ** -k[0]), (bs, 2.0 ** -k[1])):
        flat = [(t, i) for t in group for i in range(t.numel())]
        for j in torch.randperm(len(flat), generator=gen).tolist():
            if end is not None and time.perf_counter() >= end:
                return moves
            t, i = flat[j]
            view = t.view(-1)
            start = float(view[i])
            best_v, best_c = start, ev.cost(name, k)
            for sign in (-1.0, 1.0):
                for n in range(1, RDOQ_REACH + 1):
                    v = start + sign * n * step
                    if abs(v / step) > MAX_INT:
                        break
                    view[i] = v
                    ev.refresh(name)
                    c = ev.cost(name, k)
                    if c < best_c:
                        best_v, best_c = v, c
                    else:
                        break
            view[i] = best_v
            ev.refresh(name)
            moves += best_v != start
    return moves


def total_cost(ev: Evaluator, steps: dict[str, tuple[int, int]]) -> float:
    bits = sum(ev.weight_bits(n, steps[n]) for n in MODULES)
    return ev.image_cost + ev.lmbda * (ev.latent_bits + bits) / ev.model.num_pixels


def quantize(model: CoolChic5Model, loss: Loss, target: torch.Tensor, s: CoolChic5Settings,
             levels: int = 255, seed: int = 0,
             progress: Callable[[str], None] | None = None) -> QuantResult:
    """Quantise the (float32, CPU) model in place; returns the steps and the costs."""
    with torch.no_grad():
        ev = Evaluator(model, loss, target, s.lmbda, levels)
        steps: dict[str, tuple[int, int]] = {}
        for name in MODULES:
            steps[name], _ = search_steps(ev, name, not s.quantize_search)
        cost = total_cost(ev, steps)
        moves = 0
        if s.rdoq:
            gen = torch.Generator().manual_seed(seed)
            for name in ("arm", "ifce", "synthesis", "upsampling"):
                moves += rdoq_module(ev, name, steps[name], gen)
        final = total_cost(ev, steps)
    return QuantResult(steps, cost, final, ev.latent_bits, moves, ev.count)
