"""Cool-chic v1 and v2 as two configurations of one codec.

Model: a pyramid of latent grids (`latents`), upsampled to full resolution (`upsampling`:
fixed bicubic in v1, learned in v2) and turned into pixels by the synthesis network
(`synthesis`: pixel-wise MLP in v1, convolutional layer spec in v2); the ARM (`arm`) models
each latent from its causal neighbours with a Laplace distribution.

Training minimises D + lmbda * R / pixels, D any registry loss and R the ARM's estimate of the
latent bits, in phases (each reported through ProgressFn):
  warmup  `warmup_candidates` random initialisations trained `warmup_steps` steps each with
          the main proxy; the best one is kept (Cool-chic 2's warm-up)
  fit     `steps` steps of Adam, lr `lr` with cosine decay, latents through the `proxy`
          (v1: additive uniform noise; v2: soft-round + Gaussian noise, the soft-round
          temperature annealed from 0.3 to 0.1 and the noise's deviation from 0.25 to 0.1,
          as Cool-chic's current recipe; the warm-up holds the start values)
  ste     `ste_steps` steps at lr `ste_lr` (cosine) with straight-through rounding; the best
          loss seen is kept
Then every module's weights and biases get a power-of-two quantisation step chosen by the
real rate-distortion cost (coordinate search over 2^-k), and the file is written:

  section h  module steps (k of 2^-k for weights and biases of arm, upsampling, synthesis)
             and a CRC-32 of those steps and the integer weights
  section w  the integer weights (coding.entropy: Laplace range coder or brotli)
  section l  the latents, range-coded with the fixed-point ARM (arm_int), wave by wave

The reconstruction returned by encode is rendered by the decoder's own function, in float64.
"""

from __future__ import annotations

import math
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ...coding import entropy
from ...coding.container import ImageInfo
from ...errors import ConfigError, DecodeError
from ...fitting import psnr_float
from ...image import Image
from ...losses import Loss
from ..base import Codec, EncodeOutput, Progress, ProgressFn
from .arm import ARM, MAX_CONTEXT, arm_macs, laplace_bits
from .arm_int import MAX_WEIGHT, IntARM, IntLayer, decode_latents, encode_latents
from .latents import NOISE_TYPES, Latents, proxy
from .synthesis import MAX_WIDTH, Synthesis, parse_spec
from .upsampling import Upsampling

MODULES = ("arm", "upsampling", "synthesis")
K_RANGE = range(2, 17)  # quantisation steps 2^-k searched for weights and biases
_HEAD = struct.Struct("<6BI")


@dataclass
class CoolChicSettings:
    # -- model description (stored in the file) --
    latent_channels: tuple[int, ...] = (1, 1, 1, 1, 1, 1, 1)  # per level, finest first
    upsampling: str = "learned"  # "learned" (v2) or "bicubic" (v1)
    # no ReLU on the 3-channel layer (Cool-chic 3+): with it, channels that go negative die
    # and short fits land 1 dB lower (benchmarks/results/coolchic_summary.md)
    synthesis: str = "40-1-linear-relu,X-1-linear-none,X-3-residual-relu,X-3-residual-none"
    arm_context: int = 24
    arm_hidden: tuple[int, ...] = (24, 24)
    # -- encoder only --
    lmbda: float = 1e-3
    steps: int = 4000
    lr: float = 1e-2
    latent_gain: float = 16.0  # latents = gain * parameters (Cool-chic's encoder gain)
    proxy: str = "softround"  # "softround" (v2) or "noise" (v1)
    temperature: tuple[float, float] = (0.3, 0.1)  # soft-round, start and end of `fit`
    noise: tuple[float, float] = (0.25, 0.1)  # soft-round noise scale, start and end of `fit`
    noise_type: str = "gaussian"  # "gaussian" (deviation = noise) or "uniform" (width = noise)
    # learning rate of the learned upsampling relative to `lr`; 1 as Cool-chic. 0.1 (our old
    # default, for stability at lr 3e-2 before gradient clipping) fitted 0.04-0.3 dB lower
    # at a higher rate on kodak6-half kodim01/15/23 (coolchic_trajectory.jsonl)
    upsampling_lr_scale: float = 1.0
    grad_clip: float = 0.1  # clip the gradients' global L2 norm to this (0: off), as Cool-chic
    ste_steps: int = 400
    ste_lr: float = 1e-4
    warmup_candidates: int = 4
    warmup_steps: int = 100
    quantize_search: bool = True  # False: fixed 2^-8 steps (faster, for tests)
    compile: bool = False  # torch.compile the fit phase (pays off only for long runs)
    bf16: bool = False  # warm-up and fit under bf16 autocast (CPUs with bf16 units, GPUs)


class CoolChicModel(nn.Module):
    def __init__(self, s: CoolChicSettings, height: int, width: int, channels: int) -> None:
        super().__init__()
        self.latents = Latents(height, width, tuple(s.latent_channels), s.latent_gain)
        self.upsampling = Upsampling(len(s.latent_channels), s.upsampling == "learned")
        self.synthesis = Synthesis(s.synthesis, sum(s.latent_channels), channels)
        self.arm = ARM(s.arm_context, tuple(s.arm_hidden))
        self.num_pixels = height * width

    def render(self, latents: list[torch.Tensor]) -> torch.Tensor:
        return self.synthesis(self.upsampling(latents))

    def rounded_latents(self) -> list[torch.Tensor]:
        """The latents as they are coded: clamped and rounded, detached."""
        return [proxy(y.detach(), "round") for y in self.latents.values()]

    def bits(self, latents: list[torch.Tensor]) -> torch.Tensor:
        grids = [y.reshape(y.shape[1], 1, *y.shape[-2:]) for y in latents if y.shape[1]]
        mu, log_scale, x = self.arm(grids)
        return laplace_bits(x.float(), mu.float(), log_scale.float())  # fp32 under autocast

    def forward(self, mode: str, temperature: float = 0.3,
                noise: float = 1.0, noise_type: str = "uniform"
                ) -> tuple[torch.Tensor, torch.Tensor]:
        yq = [proxy(y, mode, temperature, noise, noise_type) for y in self.latents.values()]
        return self.render(yq), self.bits(yq)

    def module(self, name: str) -> nn.Module:
        return getattr(self, name)

    def macs_per_pixel(self) -> float:
        n_lat = sum(c * h * w for c, (h, w) in zip(self.latents.channels, self.latents.shapes,
                                                    strict=True))
        ups = 2 * 8 * sum(self.latents.channels[1:]) * 2  # rough: separable 8 taps, 2 passes
        return (self.synthesis.macs_per_pixel() + ups +
                arm_macs(self.arm.context, tuple(layer.out_features for layer in
                                                 self.arm.layers[:-1])) * n_lat /
                self.num_pixels)


def module_tensors(model: CoolChicModel, name: str) -> tuple[list[torch.Tensor],
                                                             list[torch.Tensor]]:
    """(weights, biases) of a module in file order; bicubic upsampling has none."""
    if name == "arm":
        layers = list(model.arm.layers)
    elif name == "synthesis":
        layers = list(model.synthesis.convs)
    else:
        up = model.upsampling.halves
        return ([up] if isinstance(up, nn.Parameter) else []), []
    return [la.weight for la in layers], [la.bias for la in layers]


def _ints(t: torch.Tensor, k: int) -> np.ndarray:
    return torch.round(t.detach().double() * (2.0 ** k)).to(torch.int64).cpu().numpy()


def _weight_crc(arrays: list[np.ndarray], ks: list[int]) -> int:
    """CRC-32 of the module steps and the integer weights (catches corruption the entropy
    decoder cannot see, when a codec's decode is handed sections without the container)."""
    crc = zlib.crc32(bytes(ks))
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(a, dtype="<i8").tobytes(), crc)
    return crc


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


def make_optimizer(model: CoolChicModel, lr: float, upsampling_lr_scale: float
                   ) -> torch.optim.Adam:
    """Adam, the learned upsampling in its own group at a lower rate; each group's "base" rate
    is what the cosine schedule scales. Adam's fused kernel does a step in one kernel per
    tensor instead of ~10 ops (~1-4 ms less per compiled 256x256 step, coolchic_speed.md)."""
    up = list(model.upsampling.parameters())
    rest = [p for n, p in model.named_parameters() if not n.startswith("upsampling.")]
    groups = [{"params": rest, "base": lr}]
    if up:
        groups.append({"params": up, "base": lr * upsampling_lr_scale})
    fused = all(p.device.type in ("cpu", "cuda") for p in model.parameters())
    return torch.optim.Adam(groups, lr=lr, fused=fused or None)


def clipped_step(opt: torch.optim.Optimizer, grad_clip: float) -> None:
    """One optimiser step, the gradients' global L2 norm first clipped to grad_clip (> 0), as
    Cool-chic does (0.1): a rare large gradient otherwise throws a fit back by hundreds of
    steps."""
    if grad_clip > 0:
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, grad_clip, foreach=True)
    opt.step()


def compile_objective(fn: Any) -> Any:
    """torch.compile for the training objective. Inductor's layout optimisation is off: it
    stored the synthesis' ReLU masks channels-last, a strided copy that cost more than the
    convolutions it was meant to speed up. Random numbers come from torch's own generator
    (fallback_random), so a compiled fit draws the same noise as an eager one."""
    return torch.compile(fn, dynamic=False,
                         options={"layout_optimization": False, "fallback_random": True})


class CoolChicCodec(Codec):
    """Shared implementation; `CoolChicV1` and `CoolChicV2` differ by defaults."""

    name = "coolchic"
    settings_cls = CoolChicSettings
    decode_fields = ("latent_channels", "upsampling", "synthesis", "arm_context", "arm_hidden")

    @classmethod
    def make_settings(cls, preset: str = "default", **overrides: Any) -> Any:
        spec = overrides.get("synthesis")
        if isinstance(spec, tuple | list):  # the CLI's --set splits "a,b,c" into a tuple
            overrides["synthesis"] = ",".join(str(v) for v in spec)
        return super().make_settings(preset, **overrides)

    @classmethod
    def validate(cls, s: CoolChicSettings) -> None:
        lc = tuple(s.latent_channels)
        if not (1 <= len(lc) <= 8 and all(isinstance(c, int) and 0 <= c <= 4 for c in lc)
                and sum(lc) >= 1):
            raise ConfigError(f"{cls.name}: latent_channels must be 1..8 levels of 0..4 "
                              "channels, at least one channel in all")
        if s.upsampling not in ("learned", "bicubic"):
            raise ConfigError(f"{cls.name}: upsampling must be 'learned' or 'bicubic'")
        parse_spec(s.synthesis)
        if not (isinstance(s.arm_context, int) and 1 <= s.arm_context <= MAX_CONTEXT):
            raise ConfigError(f"{cls.name}: arm_context must be 1..{MAX_CONTEXT}")
        ah = tuple(s.arm_hidden)
        if not (len(ah) <= 4 and all(isinstance(w, int) and 1 <= w <= MAX_WIDTH for w in ah)):
            raise ConfigError(f"{cls.name}: arm_hidden must be at most 4 widths in "
                              f"1..{MAX_WIDTH}")
        if not (s.lmbda >= 0 and math.isfinite(s.lmbda)):
            raise ConfigError(f"{cls.name}: lmbda must be >= 0")
        if min(s.steps, s.ste_steps, s.warmup_steps) < 0 or s.warmup_candidates < 0:
            raise ConfigError(f"{cls.name}: step counts must be >= 0")
        if not (s.lr > 0 and s.ste_lr > 0 and s.latent_gain > 0 and s.upsampling_lr_scale > 0):
            raise ConfigError(f"{cls.name}: learning rates must be > 0")
        if (isinstance(s.grad_clip, bool) or not isinstance(s.grad_clip, int | float)
                or not 0 <= s.grad_clip < math.inf):
            raise ConfigError(f"{cls.name}: grad_clip must be >= 0 (0: off)")
        if s.proxy not in ("noise", "softround", "ste"):
            raise ConfigError(f"{cls.name}: proxy must be noise, softround or ste")
        t = tuple(s.temperature)
        if len(t) != 2 or not all(0 < v <= 1 for v in t):
            raise ConfigError(f"{cls.name}: temperature is (start, end) in (0, 1]")
        n = tuple(s.noise) if isinstance(s.noise, tuple | list) else ()
        if len(n) != 2 or not all(0 <= v <= 2 for v in n):
            raise ConfigError(f"{cls.name}: noise is (start, end) in [0, 2]")
        if not (isinstance(s.bf16, bool) and isinstance(s.compile, bool)):
            raise ConfigError(f"{cls.name}: bf16 and compile must be true or false")
        if s.noise_type not in NOISE_TYPES:
            raise ConfigError(f"{cls.name}: noise_type must be one of {', '.join(NOISE_TYPES)}")

    # -- training ------------------------------------------------------------------------------
    def _objective(self, model: CoolChicModel, loss: Loss, target: torch.Tensor, lmbda: float,
                   mode: str, temperature: float = 0.3, noise: float = 1.0,
                   noise_type: str = "uniform", bf16: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(target.device.type, dtype=torch.bfloat16, enabled=bf16):
            img, bits = model(mode, temperature, noise, noise_type)
        img = img.float()
        return loss(img, target) + lmbda * bits / model.num_pixels, img

    def _train(self, model: CoolChicModel, loss: Loss, target: torch.Tensor,
               s: CoolChicSettings, phase: str, steps: int, lr: float, mode: str,
               progress: ProgressFn | None, keep_best: bool, offset: int = 0,
               total: int | None = None) -> float:
        opt = make_optimizer(model, lr, s.upsampling_lr_scale)
        (t0, t1), (n0, n1) = s.temperature, s.noise
        if phase == "warmup":  # the warm-up holds the start values
            t1, n1 = t0, n0
        temp, noise = torch.tensor(t0), torch.tensor(n0)  # tensors: no recompiles

        def objective(temp: torch.Tensor, noise: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
            return self._objective(model, loss, target, s.lmbda, mode, temp, noise,
                                   s.noise_type, s.bf16 and phase != "ste")

        if s.compile and phase == "fit":
            objective = compile_objective(objective)
        best, best_state, value = math.inf, None, math.inf
        for step in range(steps):
            a = step / max(steps - 1, 1)
            for g in opt.param_groups:
                g["lr"] = g["base"] * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))
            opt.zero_grad(set_to_none=True)
            temp.fill_(t0 + (t1 - t0) * a)
            noise.fill_(n0 + (n1 - n0) * a)
            obj, img = objective(temp, noise)
            value = float(obj.detach())
            if not math.isfinite(value):
                break
            if keep_best and value < best:
                best = value
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            obj.backward()
            clipped_step(opt, s.grad_clip)
            if progress is not None:
                progress(Progress(phase, offset + step + 1, total or steps, value,
                                  psnr_float(img, target)))
        if keep_best and best_state is not None:
            model.load_state_dict(best_state)
            return best
        return value

    def fit(self, image: Image, loss: Loss, s: CoolChicSettings, *, device: torch.device,
            seed: int = 0, progress: ProgressFn | None = None
            ) -> tuple[CoolChicModel, dict[str, Any]]:
        target = image.data.unsqueeze(0).to(device)
        h, w, c = image.height, image.width, image.channels
        log: dict[str, Any] = {}
        t = time.perf_counter()
        n_cand = max(1, s.warmup_candidates)
        best_model, best_value = None, math.inf
        for cand in range(n_cand):
            torch.manual_seed(seed * 1009 + cand)
            model = CoolChicModel(s, h, w, c).to(device)
            if s.warmup_candidates <= 1 or s.warmup_steps == 0:
                best_model = model
                break
            value = self._train(model, loss, target, s, "warmup", s.warmup_steps, s.lr,
                                s.proxy, progress, False, cand * s.warmup_steps,
                                n_cand * s.warmup_steps)
            with torch.no_grad():  # compare candidates on the rounded latents
                value = float(self._objective(model, loss, target, s.lmbda, "round")[0])
            if value < best_value or best_model is None:
                best_model, best_value = model, value
        model = best_model
        log["warmup_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        log["fit_loss"] = self._train(model, loss, target, s, "fit", s.steps, s.lr, s.proxy,
                                      progress, False)
        log["fit_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        if s.ste_steps:
            log["ste_loss"] = self._train(model, loss, target, s, "ste", s.ste_steps, s.ste_lr,
                                          "ste", progress, True)
        log["ste_seconds"] = time.perf_counter() - t
        log["steps"] = {"warmup": n_cand * s.warmup_steps if s.warmup_candidates > 1 else 0,
                        "fit": s.steps, "ste": s.ste_steps}
        log["macs_per_pixel"] = round(model.macs_per_pixel(), 1)
        return model, log

    # -- quantisation and coding ---------------------------------------------------------------
    def _quantize(self, model: CoolChicModel, loss: Loss, target: torch.Tensor,
                  s: CoolChicSettings) -> tuple[dict[str, tuple[int, int]], float]:
        """Choose (kw, kb) per module by D + lmbda * R; leaves the model's weights quantised."""
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
                    q = _ints(orig, k)
                    if name == "arm" and np.abs(q).max(initial=0) > MAX_WEIGHT:
                        return math.inf
                    arrays.append(q)
                    t.copy_(torch.from_numpy(q).to(t) * 2.0 ** -k)
                wbits = estimate_bits(arrays)
                if name == "arm":
                    cache["bits"] = float(model.bits(lat))
                else:
                    cache["img"] = model.render(lat)
                d = float(loss(cache["img"], target))
                return d + s.lmbda * (cache["bits"] + wbits) / model.num_pixels

            for name in MODULES:
                ws, bs = module_tensors(model, name)
                if not ws:
                    ks[name] = (0, 0)
                    continue
                if not s.quantize_search:
                    ks[name] = (8, 8)
                else:
                    kb = 12
                    kw = min(K_RANGE, key=lambda k, kb=kb, name=name: cost(name, k, kb))
                    if bs:
                        kb = min(K_RANGE, key=lambda k, kw=kw, name=name: cost(name, kw, k))
                    ks[name] = (kw, kb if bs else 0)
                final = cost(name, *ks[name])
            self._estimated_latent_bits = cache["bits"]
        return ks, final

    def encode(self, image: Image, loss: Loss, settings: Any, *, device: torch.device,
               seed: int = 0, progress: ProgressFn | None = None) -> EncodeOutput:
        s: CoolChicSettings = settings
        # resolve the spec against the image now, so a bad spec fails before training
        from .synthesis import resolve

        resolve(s.synthesis, sum(s.latent_channels), image.channels)
        model, log = self.fit(image, loss, s, device=device, seed=seed, progress=progress)
        model = model.cpu().float()
        target = image.data.unsqueeze(0)
        t = time.perf_counter()
        ks, qcost = self._quantize(model, loss, target, s)
        ints: list[np.ndarray] = []
        for name in MODULES:
            ws, bs = module_tensors(model, name)
            ints += [_ints(w, ks[name][0]) for w in ws] + [_ints(b, ks[name][1]) for b in bs]
        kvals = [k for name in MODULES for k in ks[name]]
        head = _HEAD.pack(*kvals, _weight_crc(ints, kvals))
        latents = [y.numpy().astype(np.int64) for y in model.rounded_latents()]
        grids = [g[0, ch] for g in latents for ch in range(g.shape[1])]
        int_arm = self._int_arm(s, ints, ks["arm"])
        sections = {"h": head, "w": entropy.encode_ints(ints),
                    "l": encode_latents(grids, int_arm, s.arm_context)}
        log["quantize_seconds"] = time.perf_counter() - t
        log["quant_steps"] = {n: list(v) for n, v in ks.items()}
        log["quantized_objective"] = qcost
        log["estimated_latent_bytes"] = round(self._estimated_latent_bits / 8)
        log["section_bytes"] = {k: len(v) for k, v in sections.items()}
        log["weight_coder"] = entropy.method_name(sections["w"])
        log["num_params"] = int(sum(a.size for a in ints))
        recon = self._render(s, image.channels, image.height, image.width, ints, ks, grids,
                             device)
        return EncodeOutput(sections, self.config_of(s), recon, log)

    # -- decoding ------------------------------------------------------------------------------
    def _shapes(self, s: CoolChicSettings, channels: int, height: int, width: int
                ) -> tuple[CoolChicModel, list[tuple[int, ...]]]:
        with torch.device("meta"):
            model = CoolChicModel(s, min(height, 64), min(width, 64), channels)
        shapes = []
        for name in MODULES:
            ws, bs = module_tensors(model, name)
            shapes += [tuple(t.shape) for t in ws + bs]
        return model, shapes

    @staticmethod
    def _int_arm(s: CoolChicSettings, ints: list[np.ndarray], k: tuple[int, int]) -> IntARM:
        n = len(s.arm_hidden) + 1
        ws, bs = ints[:n], ints[n:2 * n]
        return IntARM([IntLayer(w, b, k[0], k[1]) for w, b in zip(ws, bs, strict=True)])

    def _render(self, s: CoolChicSettings, channels: int, height: int, width: int,
                ints: list[np.ndarray], ks: dict[str, tuple[int, int]],
                grids: list[np.ndarray], device: torch.device) -> torch.Tensor:
        model = CoolChicModel(s, height, width, channels).double()
        with torch.no_grad():
            i = 0
            for name in MODULES:
                ws, bs = module_tensors(model, name)
                for n, t in enumerate(ws + bs):
                    k = ks[name][0] if n < len(ws) else ks[name][1]
                    t.copy_(torch.from_numpy(ints[i]).double() * 2.0 ** -k)
                    i += 1
            it = iter(grids)
            lat = []
            for c, (h, w) in zip(model.latents.channels, model.latents.shapes, strict=True):
                lat.append(torch.stack([torch.from_numpy(next(it)).double() for _ in range(c)])
                           .reshape(1, c, h, w) if c else torch.zeros(1, 0, h, w,
                                                                        dtype=torch.float64))
            model = model.to(device)
            up = model.upsampling([y.to(device) for y in lat])
            out = model.synthesis.forward_strips(up)
        return out[0].clamp(0, 1).float().cpu()

    def decode(self, settings: Any, sections: dict[str, bytes], info: ImageInfo, *,
               device: torch.device) -> torch.Tensor:
        s: CoolChicSettings = settings
        if set(sections) != {"h", "w", "l"}:
            raise DecodeError(f"{self.name}: unexpected sections {sorted(sections)}")
        if len(sections["h"]) != _HEAD.size:
            raise DecodeError(f"{self.name}: corrupt module header")
        *kvals, crc = _HEAD.unpack(sections["h"])
        if any(k > max(K_RANGE) for k in kvals):
            raise DecodeError(f"{self.name}: corrupt quantisation steps")
        ks = {n: (kvals[2 * i], kvals[2 * i + 1]) for i, n in enumerate(MODULES)}
        try:
            _, shapes = self._shapes(s, info.channels, info.height, info.width)
        except ConfigError as exc:
            raise DecodeError(f"{self.name}: {exc}") from None
        ints = [a.astype(np.int64) for a in entropy.decode_ints(sections["w"], shapes)]
        if _weight_crc(ints, kvals) != crc:
            raise DecodeError(f"{self.name}: corrupt weights (checksum mismatch)")
        n_arm = 2 * (len(s.arm_hidden) + 1)
        if any(np.abs(a).max(initial=0) > MAX_WEIGHT for a in ints[:n_arm]):
            raise DecodeError(f"{self.name}: corrupt ARM weights")
        lat_model = Latents(1, 1, tuple(s.latent_channels))
        from .latents import level_shapes

        shapes2d = [sh for c, sh in zip(lat_model.channels,
                                        level_shapes(info.height, info.width,
                                                     len(s.latent_channels)), strict=True)
                    for _ in range(c)]
        grids = decode_latents(sections["l"], shapes2d, self._int_arm(s, ints, ks["arm"]),
                               s.arm_context)
        return self._render(s, info.channels, info.height, info.width, ints, ks, grids, device)


@dataclass
class CoolChicV1Settings(CoolChicSettings):
    """Cool-chic 1's model and proxy as the defaults."""

    upsampling: str = "bicubic"
    synthesis: str = "12-1-linear-relu,12-1-linear-relu,X-1-linear-none"
    arm_context: int = 12
    arm_hidden: tuple[int, ...] = (12, 12)
    proxy: str = "noise"
    warmup_candidates: int = 2
    # unclipped: clipped, a fit more often ends with dead latents parked at |y| ~ 0.5, about
    # half of which round to +-1 (the noise proxy prices them at almost nothing; see the test
    # test_noise_proxy_prices_half_integer_latents_at_almost_nothing): kodak6-half kodim01
    # at 4x the rate at lambda 2e-2 and 1.8x at 4e-3 (benchmarks/results/coolchic_summary.md)
    grad_clip: float = 0.0


# Cool-chic 3.x/4.x "lop" complexity (~500 MAC/pixel), for the speed-s1 comparison
LOP_MODEL = {
    "synthesis": "16-1-linear-relu,X-1-linear-none,X-3-residual-relu,X-3-residual-none",
    "arm_context": 8, "arm_hidden": (8, 8),
}


class CoolChicV1(CoolChicCodec):
    """Ladune et al., ICCV 2023: bicubic upsampling, pixel-wise MLP synthesis."""

    name = "coolchic-v1"
    settings_cls = CoolChicV1Settings
    presets = {
        "default": {"steps": 4000, "ste_steps": 300, "warmup_steps": 100},
        "fast": {"steps": 1100, "ste_steps": 100, "warmup_steps": 50},
        "slow": {"steps": 10000, "ste_steps": 1000, "warmup_candidates": 3,
                 "warmup_steps": 200},
    }


class CoolChicV2(CoolChicCodec):
    """Leguay et al., 2023: learned upsampling, convolutional synthesis, warm-up."""

    name = "coolchic-v2"
    presets = {
        "default": {"steps": 4000, "ste_steps": 400, "warmup_candidates": 4,
                    "warmup_steps": 100},
        "fast": {"steps": 1100, "ste_steps": 150, "warmup_candidates": 3, "warmup_steps": 50},
        "slow": {"steps": 10000, "ste_steps": 1000, "warmup_candidates": 5,
                 "warmup_steps": 200},
        "lop": {**LOP_MODEL, "steps": 1100, "ste_steps": 150, "warmup_candidates": 3,
                "warmup_steps": 50},
    }
