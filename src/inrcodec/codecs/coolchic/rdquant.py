"""Rate-distortion quantisation of Cool-chic's networks.

Every module's weights and biases get a power-of-two step 2^-k (one k for the weights, one for
the biases), chosen by the real cost D + lmbda * (latent bits + weight bits) / pixels with the
latents rounded: a coordinate search over `K_RANGE`, module by module in file order, first the
weights' k (biases at 2^-12), then the biases' k. The weight bits are estimated (a discrete
Laplace per tensor), the latent bits are the ARM's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ...fitting import encode_end
from ...losses import Loss
from .arm_int import MAX_WEIGHT
from .model import MODULES, CoolChicModel, CoolChicSettings, module_tensors

K_RANGE = range(2, 17)  # quantisation steps 2^-k searched for weights and biases
FIXED_K = 8  # the step without the search (settings.quantize_search False)
START_KB = 12  # the biases' k while the weights' k is searched


@dataclass(frozen=True)
class QuantResult:
    steps: dict[str, tuple[int, int]]  # module -> (kw, kb); (0, 0) for a module without weights
    cost: float  # D + lmbda * R / pixels with the chosen steps (R: latent + estimated weight bits)
    latent_bits: float  # the ARM's estimate of the rounded latents' bits, quantised ARM


def to_ints(t: torch.Tensor, k: int) -> np.ndarray:
    """round(t * 2^k) as int64: a tensor's integers at step 2^-k."""
    return torch.round(t.detach().double() * (2.0 ** k)).to(torch.int64).cpu().numpy()


def integer_weights(model: CoolChicModel, steps: dict[str, tuple[int, int]]
                    ) -> list[np.ndarray]:
    """Every module's integer weights, then biases, in file order."""
    ints: list[np.ndarray] = []
    for name in MODULES:
        ws, bs = module_tensors(model, name)
        ints += [to_ints(w, steps[name][0]) for w in ws] + [to_ints(b, steps[name][1]) for b in bs]
    return ints


def best_k(cost: Callable[[int], float]) -> int:
    """The k of K_RANGE with the lowest cost. Under a time budget the candidates are tried
    from FIXED_K outwards and the search stops at the encode's end, keeping the best so far
    (a late encode then still has a sensible step)."""
    end = encode_end()
    if end is None:
        return min(K_RANGE, key=cost)
    order = sorted(K_RANGE, key=lambda k: (abs(k - FIXED_K), k))
    best, best_cost = order[0], cost(order[0])
    for k in order[1:]:
        if time.perf_counter() >= end:
            break
        c = cost(k)
        if c < best_cost:
            best, best_cost = k, c
    return best


def estimate_bits(arrays: list[np.ndarray]) -> float:
    """Approximate coded size of integer arrays (a discrete Laplace fitted to each around
    its median, plus ~40 bits of model parameters): fast enough for the step search."""
    bits = 0.0
    for a in arrays:
        v = a.reshape(-1).astype(np.float64)
        if v.size == 0:
            continue
        d = np.abs(v - np.round(np.median(v)))
        m = d.mean()
        if m == 0:
            bits += 40.0
            continue
        r = m / (1.0 + m)  # ML decay of a two-sided geometric with mean |d| = m (approx.)
        logp = np.log2((1 - r) / (1 + r)) + d * np.log2(r)
        bits += 40.0 - logp.sum()
    return bits


def quantize_model(model: CoolChicModel, loss: Loss, target: torch.Tensor,
                   settings: CoolChicSettings) -> QuantResult:
    """Choose (kw, kb) per module by D + lmbda * R; leaves the model's weights quantised.
    The model and target must be float32 on the CPU (what the encoder codes)."""
    s = settings
    with torch.no_grad():
        lat = model.rounded_latents()
        originals = {n: [t.detach().clone() for t in sum(module_tensors(model, n), [])]
                     for n in MODULES}
        ks: dict[str, tuple[int, int]] = {}
        cache = {"img": model.render(lat), "bits": float(model.bits(lat))}

        def cost(name: str, kw: int, kb: int) -> float:
            ws, bs = module_tensors(model, name)
            arrays = []
            for t, orig in zip(ws + bs, originals[name], strict=True):
                k = kw if len(arrays) < len(ws) else kb
                q = to_ints(orig, k)
                if name == "arm" and np.abs(q).max(initial=0) > MAX_WEIGHT:
                    return math.inf  # the integer ARM could not hold it
                arrays.append(q)
                t.copy_(torch.from_numpy(q).to(t) * 2.0 ** -k)
            wbits = estimate_bits(arrays)
            if name == "arm":  # the ARM changes the rate only, the others the image only
                cache["bits"] = float(model.bits(lat))
            else:
                cache["img"] = model.render(lat)
            d = float(loss(cache["img"], target))
            return d + s.lmbda * (cache["bits"] + wbits) / model.num_pixels

        final = math.inf
        for name in MODULES:
            ws, bs = module_tensors(model, name)
            if not ws:
                ks[name] = (0, 0)
                continue
            if not s.quantize_search:
                ks[name] = (FIXED_K, FIXED_K)
            else:
                kb = START_KB
                kw = best_k(lambda k, kb=kb, name=name: cost(name, k, kb))
                if bs:
                    kb = best_k(lambda k, kw=kw, name=name: cost(name, kw, k))
                ks[name] = (kw, kb if bs else 0)
            final = cost(name, *ks[name])  # leaves the module at its chosen steps
    return QuantResult(ks, final, cache["bits"])
