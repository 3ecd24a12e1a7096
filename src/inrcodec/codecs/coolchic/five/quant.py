"""Quantisation of the networks: a joint (weight step, bias step) search per module, then a
rate-distortion refinement of the integers (Cool-chic 5.0.1's RDOQ).

Steps are powers of two, 2^-k. Modules are quantised in file order (arm, ifce, upsampling,
synthesis), each with the earlier ones already quantised; (kw, kb) pairs within `K_RANGES`
(5.0.1's candidate lists) are scored by the real cost D + lmbda * (latent bits + the module's
weight bits) / pixels on rounded latents and an 8-bit-rounded image (`search_steps`), and
pairs whose integers exceed `MAX_INT` are refused. The weight bits are rdquant's estimate (a
discrete Laplace per coded array: a module's weights, or its biases).

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

import numpy as np
import torch

from ....fitting import encode_end
from ....losses import Loss
from ..arm import laplace_bits
from ..rdquant import estimate_bits, to_ints
from .entropy import arm_input
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
    weight_share: float  # the networks' estimated bits over theirs and the latents'
    rdoq_ran: bool


def group_bits(arrays: list[np.ndarray]) -> float:
    """Estimated bits of a module's weights (or biases), coded as one array (`codec`)."""
    if not arrays:
        return 0.0
    return estimate_bits([np.concatenate([a.reshape(-1) for a in arrays])])


class Evaluator:
    """The quantised model's cost on its rounded latents, by parts, with caches: the ARM's
    input (moved only by the IFCE) and the upsampled latents (moved only by the upsampling)."""

    def __init__(self, model: CoolChic5Model, loss: Loss, target: torch.Tensor, lmbda: float,
                 levels: int) -> None:
        self.model, self.loss, self.target, self.lmbda = model, loss, target, lmbda
        self.levels = levels  # 2^bit_depth - 1: the decoded image's grid
        self.values = model.rounded()
        self.count = 0
        self.ups = self._upsampled()
        self.image_cost = self.distortion()
        self.ctx = self._arm_input()
        self.latent_bits = self.rate()

    def _upsampled(self) -> torch.Tensor:
        v = self.model.grid_values(self.values)
        return self.model.upsampling([v[g][None, None] for g in self.model.layout.latents])

    def _arm_input(self) -> torch.Tensor:
        m = self.model
        return arm_input(self.values, m.gather, m.features(self.values), m.arm.width)

    def distortion(self) -> float:
        self.count += 1
        img = self.model.synthesis(self.ups).clamp(0, 1)
        img = torch.round(img * self.levels) / self.levels
        return float(self.loss(img, self.target))

    def rate(self) -> float:
        self.count += 1
        mu, ls = self.model.arm(self.ctx)
        return float(laplace_bits(self.values[1:], mu, ls))

    def weight_bits(self, name: str, k: tuple[int, int]) -> float:
        ws, bs = module_tensors(self.model, name)
        return (group_bits([to_ints(t, k[0]) for t in ws]) +
                group_bits([to_ints(t, k[1]) for t in bs]))

    def refresh(self, name: str) -> None:
        """Recompute the part of the cost that module `name` moves."""
        if name == "ifce":
            self.ctx = self._arm_input()
        if name in ("arm", "ifce"):
            self.latent_bits = self.rate()
            return
        if name == "upsampling":
            self.ups = self._upsampled()
        self.image_cost = self.distortion()

    def state(self) -> tuple:
        """The cached parts of the cost (refresh replaces them, never edits them in place)."""
        return self.ctx, self.latent_bits, self.ups, self.image_cost

    def restore(self, state: tuple) -> None:
        """Back to a `state()`, for parameters set back to the values it was taken at: the
        same numbers a refresh would compute again."""
        self.ctx, self.latent_bits, self.ups, self.image_cost = state

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
    """(kw, kb) of module `name` by the real cost: kw with the finest bias step that fits,
    then kb at that kw, then every pair within kw +-1, kb +-2 of the two (a joint search
    where the cost is not separable, at a tenth of the full grid's evaluations)."""
    ws, bs = module_tensors(ev.model, name)
    tensors = ws + bs
    if not tensors:  # e.g. no IFCE
        return (0, 0), ev.cost(name, (0, 0))
    originals = [t.detach().clone() for t in tensors]
    kinds = [0] * len(ws) + [1] * len(bs)
    kw_range, kb_range = K_RANGES[name]
    end = encode_end()
    tried: dict[tuple[int, int], float] = {}

    def score(kw: int, kb: int) -> float:
        if (kw, kb) not in tried:
            if end is not None and tried and time.perf_counter() >= end:
                return math.inf  # a late encode keeps the best steps tried so far
            if _set(tensors, originals, [(kw, kb)[i] for i in kinds]):
                ev.refresh(name)
                tried[(kw, kb)] = ev.cost(name, (kw, kb))
            else:
                tried[(kw, kb)] = math.inf
        return tried[(kw, kb)]

    score(*FIXED_K[name])  # first: an encode out of time keeps the usual steps, not kw = 0
    if fixed:
        best = FIXED_K[name]
    else:
        top = max(float(b.abs().max()) for b in bs) if bs else 0.0
        kb0 = max([k for k in kb_range if round(top * 2.0 ** k) <= MAX_INT] or [0])
        kw = min(kw_range, key=lambda k: (score(k, kb0), -k))
        kb = min(kb_range, key=lambda k: (score(kw, k), -k))
        for a in range(kw - 1, kw + 2):
            for b in range(kb - 2, kb + 3):
                if a in kw_range and b in kb_range:
                    score(a, b)
        best = min(tried, key=lambda p: (tried[p], p))
        if not math.isfinite(tried[best]):  # nothing fits the integer bound: coarsest steps
            best = (min(kw_range), min(kb_range))
    _set(tensors, originals, [best[i] for i in kinds])
    ev.refresh(name)
    return best, ev.cost(name, best)


def rdoq_module(ev: Evaluator, name: str, k: tuple[int, int], gen: torch.Generator,
                tail: float = 0.0) -> int:
    """Greedy integer moves on module `name`; returns how many integers changed. Inside a
    budget it stops `tail` seconds before the encode's end (the time coding needs after it)."""
    ws, bs = module_tensors(ev.model, name)
    moves = 0
    end = encode_end()
    end = None if end is None else end - tail
    for group, kk in ((ws, k[0]), (bs, k[1])):  # weights, then biases
        step = 2.0 ** -kk
        ints = [to_ints(t, kk).reshape(-1) for t in group]  # kept in step with the tensors
        other = sum(group_bits([to_ints(t, x) for t in g]) for g, x in ((ws, k[0]), (bs, k[1]))
                    if g is not group)
        bits = group_bits(ints)

        def cost(b: float, other: float = other) -> float:
            return ev.image_cost + ev.lmbda * (ev.latent_bits + other + b) / ev.model.num_pixels

        flat = [(j, i) for j, t in enumerate(group) for i in range(t.numel())]
        for n in torch.randperm(len(flat), generator=gen).tolist():
            if end is not None and time.perf_counter() >= end:
                return moves
            j, i = flat[n]
            view, q = group[j].view(-1), ints[j]
            start = int(q[i])
            best_q, best_c, best_b, best_state = start, cost(bits), bits, ev.state()
            for sign in (-1, 1):
                for m in range(1, RDOQ_REACH + 1):
                    v = start + sign * m
                    if abs(v) > MAX_INT:
                        break
                    q[i] = v
                    view[i] = v * step
                    b = group_bits(ints)
                    ev.refresh(name)
                    c = cost(b)
                    if c < best_c:
                        best_q, best_c, best_b, best_state = v, c, b, ev.state()
                    else:
                        break
            q[i] = best_q
            view[i] = best_q * step
            bits = best_b
            ev.restore(best_state)  # what a refresh would compute again, for a third less work
            moves += best_q != start
    return moves


def network_bits(ev: Evaluator, steps: dict[str, tuple[int, int]]) -> float:
    """Every module's estimated weight bits at its steps."""
    return sum(ev.weight_bits(n, steps[n]) for n in MODULES)


def total_cost(ev: Evaluator, steps: dict[str, tuple[int, int]],
               bits: float | None = None) -> float:
    """The whole cost; `bits`: `network_bits` when the caller has them already."""
    bits = network_bits(ev, steps) if bits is None else bits
    return ev.image_cost + ev.lmbda * (ev.latent_bits + bits) / ev.model.num_pixels


def quantize(model: CoolChic5Model, loss: Loss, target: torch.Tensor, s: CoolChic5Settings,
             levels: int = 255, seed: int = 0,
             progress: Callable[[str], None] | None = None, tail: float = 0.0) -> QuantResult:
    """Quantise the (float32, CPU) model in place; returns the steps and the costs. `tail`:
    seconds RDOQ leaves before a budget's end (`rdoq_module`)."""
    with torch.no_grad():
        ev = Evaluator(model, loss, target, s.lmbda, levels)
        steps: dict[str, tuple[int, int]] = {}
        for name in MODULES:
            steps[name], _ = search_steps(ev, name, not s.quantize_search)
        weight_bits = network_bits(ev, steps)
        cost = total_cost(ev, steps, weight_bits)
        share = weight_bits / max(weight_bits + ev.latent_bits, 1e-9)
        moves = 0
        # RDOQ's gain grows with the weights' share of the file (benchmarks/results/
        # coolchic_vs_cc501_w05_fmt2_rdoq.md); `rdoq_min_share` skips it where it cannot pay
        run = s.rdoq and share >= s.rdoq_min_share
        if run:
            gen = torch.Generator().manual_seed(seed)
            for name in ("arm", "ifce", "synthesis", "upsampling"):
                moves += rdoq_module(ev, name, steps[name], gen, tail)
        final = total_cost(ev, steps)
    return QuantResult(steps, cost, final, ev.latent_bits, moves, ev.count, share, run)
