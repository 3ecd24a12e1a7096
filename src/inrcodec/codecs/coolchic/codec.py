"""The Cool-chic codec: settings checks, encode (train, quantise, code) and decode.

Model (`model`): a pyramid of latent grids (`latents`), upsampled to full resolution
(`upsampling`: fixed bicubic in v1, learned in v2) and turned into pixels by the synthesis
network (`synthesis`: pixel-wise MLP in v1, convolutional layer spec in v2); the ARM (`arm`)
models each latent from its causal neighbours with a Laplace distribution. Training is `train`,
the choice of the networks' quantisation steps `rdquant`. The file:

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
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...coding import entropy
from ...coding.container import ImageInfo
from ...coding.limits import (
    ACT_MACS,
    LATENT_MACS,
    WAVE_MACS,
    Cost,
    check_sections,
)
from ...errors import ConfigError, DecodeError
from ...image import Image
from ...losses import Loss
from ..base import Codec, EncodeOutput, ProgressFn, timed_steps
from . import cost
from .arm import MAX_CONTEXT, RADIUS, context_offsets, residual_layers, wave_factor
from .arm_int import (
    LATENT_HEAD_BYTES,
    MAX_WEIGHT,
    IntARM,
    IntLayer,
    decode_latents,
    encode_latents,
)
from .latents import NOISE_TYPES, level_shapes
from .model import MODULES, CoolChicModel, CoolChicSettings, module_tensors
from .rdquant import K_RANGE, QuantResult, integer_weights, quantize_model
from .recipes import cc2_phase_steps, fit_recipe
from .synthesis import MAX_WIDTH, parse_spec, resolve
from .train import Phase, fit, train_phase

UPSAMPLINGS = ("learned", "bicubic", "learned-2d")
RECIPES = ("default", "cc1", "cc2")

_HEAD = struct.Struct("<6BI")  # (kw, kb) per module in MODULES order, CRC-32


def _shapes(s: CoolChicSettings, channels: int, height: int, width: int
            ) -> list[tuple[int, ...]]:
    """Shapes of the coded weight tensors in file order (a meta model: no memory, no RNG)."""
    with torch.device("meta"):
        model = CoolChicModel(s, min(height, 64), min(width, 64), channels)
    shapes = []
    for name in MODULES:
        ws, bs = module_tensors(model, name)
        shapes += [tuple(t.shape) for t in ws + bs]
    return shapes


def grid_shapes(s: CoolChicSettings, height: int, width: int) -> list[tuple[int, int]]:
    """One (h, w) per coded 2-D latent grid: levels in order, channels within a level."""
    levels = level_shapes(height, width, len(s.latent_channels))
    return [sh for c, sh in zip(s.latent_channels, levels, strict=True) for _ in range(c)]


def code_sections(s: CoolChicSettings, ints: list[np.ndarray], ks: dict[str, tuple[int, int]],
                  grids: list[np.ndarray]) -> dict[str, bytes]:
    """Sections h, w and l of a model whose integer weights (file order) are coded at steps
    2^-ks and whose latent grids (one per channel, `grid_shapes` order) hold `grids`."""
    kvals = [k for name in MODULES for k in ks[name]]
    return {"h": _HEAD.pack(*kvals, cost.weight_crc(ints, kvals)),
            "w": entropy.encode_ints(ints),
            "l": encode_latents(grids, _int_arm(s, ints, ks["arm"]), s.arm_context)}


def _int_arm(s: CoolChicSettings, ints: list[np.ndarray], k: tuple[int, int]) -> IntARM:
    n = len(s.arm_hidden) + 1
    ws, bs = ints[:n], ints[n:2 * n]
    res = residual_layers(s.arm_context, tuple(s.arm_hidden), s.arm_residual)
    return IntARM([IntLayer(w, b, k[0], k[1], r) for w, b, r in zip(ws, bs, res, strict=True)])


def _render(s: CoolChicSettings, channels: int, height: int, width: int,
            ints: list[np.ndarray], ks: dict[str, tuple[int, int]],
            grids: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """The decoded image from integer weights and latent grids, in float64: encoder and decoder
    both call this, so the encoder's reconstruction is the decoded file."""
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
    if not bool(torch.isfinite(out).all()):
        raise DecodeError("coolchic: the weights render non-finite values (corrupt weights)")
    return out[0].clamp(0, 1).float().cpu()


def decode_cost(s: CoolChicSettings, info: ImageInfo) -> Cost:
    """Parameters, MACs and peak memory of decoding (see `coding.limits` and `cost`), from the
    header."""
    h, w, c = info.height, info.width, info.channels
    lc = tuple(s.latent_channels)
    rows = resolve(s.synthesis, sum(lc), c)  # ConfigError on a spec that does not fit
    shapes = _shapes(s, c, h, w)
    n_weights = sum(math.prod(sh) for sh in shapes)
    levels = level_shapes(h, w, len(lc))
    n_lat = sum(ch * a * b for ch, (a, b) in zip(lc, levels, strict=True))
    pixels = h * w
    syn_px, strip_bytes = cost.synthesis(rows, h, w, c)
    dims = [s.arm_context, *s.arm_hidden, 2]
    arm_px = sum(dims[i] * dims[i + 1] for i in range(len(dims) - 1)) + ACT_MACS * sum(dims[1:])
    k = wave_factor(context_offsets(s.arm_context))
    waves = cost.waves([sh for ch, sh in zip(lc, levels, strict=True) if ch], k)
    table_macs, table_bytes = cost.tables(len(shapes))
    macs = (pixels * syn_px + cost.UPSAMPLE_MACS * cost.upsampled_values(lc, levels)
            + (arm_px + LATENT_MACS) * n_lat + WAVE_MACS * waves + table_macs)
    # the latent decoder's buffer pads every grid (RADIUS rows above, on either side), the
    # upsampler pads by 2 on every side: thin images cost more than their pixels
    padded = sum(ch * (a + RADIUS) * (b + 2 * RADIUS) for ch, (a, b) in zip(lc, levels,
                                                                          strict=True))
    latent_phase = cost.LATENT_BYTES * n_lat + 8 * padded
    render_phase = (16 * n_lat + cost.FEATURE_BYTES * (h + 4) * (w + 4) * sum(lc)
                    + cost.OUTPUT_BYTES * pixels * c + strip_bytes)
    peak = (cost.BASE_BYTES + cost.PARAM_BYTES * n_weights + table_bytes
            + max(latent_phase, render_phase))
    detail = (f"latent_channels={list(lc)}, synthesis={s.synthesis!r}, "
              f"arm_hidden={list(s.arm_hidden)}, {w}x{h}")
    return Cost(n_weights + n_lat, macs, peak, detail)


@dataclass(frozen=True)
class CodedModel:
    """A trained float model as the file holds it: the networks' steps (k of 2^-k per module,
    weights and biases), their integer weights in file order, the rounded latent grids
    (`grid_shapes` order), the sections that code them, and the step search's result."""

    steps: dict[str, tuple[int, int]]
    ints: list[np.ndarray]
    grids: list[np.ndarray]
    sections: dict[str, bytes]
    quant: QuantResult

    def render(self, s: CoolChicSettings, channels: int, height: int, width: int,
               device: torch.device) -> torch.Tensor:
        """The decoded image, as the decoder computes it."""
        return _render(s, channels, height, width, self.ints, self.steps, self.grids, device)


def code_model(model: CoolChicModel, loss: Loss, target: torch.Tensor, s: CoolChicSettings
               ) -> CodedModel:
    """Quantise a trained float model (on the CPU) for `loss` against `target` and code it."""
    q = quantize_model(model, loss, target, s)
    ints = integer_weights(model, q.steps)
    latents = [y.numpy().astype(np.int64) for y in model.rounded_latents()]
    grids = [g[0, ch] for g in latents for ch in range(g.shape[1])]
    return CodedModel(q.steps, ints, grids, code_sections(s, ints, q.steps, grids), q)


class CoolChicCodec(Codec):
    """Shared implementation; `CoolChicV1` and `CoolChicV2` (configs) differ by defaults."""

    name = "coolchic"
    settings_cls = CoolChicSettings
    decode_fields = ("latent_channels", "upsampling", "synthesis", "arm_context", "arm_hidden")
    optional_decode_fields = ("arm_residual",)

    @classmethod
    def validate(cls, s: CoolChicSettings) -> None:
        lc = tuple(s.latent_channels)
        if not (1 <= len(lc) <= 8 and all(isinstance(c, int) and 0 <= c <= 4 for c in lc)
                and sum(lc) >= 1):
            raise ConfigError(f"{cls.name}: latent_channels must be 1..8 levels of 0..4 "
                              "channels, at least one channel in all")
        if s.upsampling not in UPSAMPLINGS:
            raise ConfigError(f"{cls.name}: upsampling must be one of {', '.join(UPSAMPLINGS)}")
        if not isinstance(s.arm_residual, bool):
            raise ConfigError(f"{cls.name}: arm_residual must be true or false")
        if s.recipe not in RECIPES:
            raise ConfigError(f"{cls.name}: recipe must be one of {', '.join(RECIPES)}")
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

    # -- time budgets --------------------------------------------------------------------------
    def seconds_per_step(self, image: Image, settings: CoolChicSettings,
                         device: torch.device) -> float:
        from ...losses import parse_loss

        model = CoolChicModel(settings, image.height, image.width, image.channels).to(device)
        target = image.data.unsqueeze(0).to(device)
        phase = Phase("fit", 10, settings.lr, settings.proxy)
        return timed_steps(lambda report: train_phase(model, parse_loss("mse"), target,
                                                      settings, phase, progress=report), skip=3)

    @classmethod
    def planned_steps(cls, s: CoolChicSettings) -> int:
        warmup = s.warmup_candidates * s.warmup_steps if s.warmup_candidates > 1 else 0
        if s.recipe == "cc2":  # rounds of n, n - 1, ..., 2 candidates; STE inside `steps`
            warmup = sum(range(2, s.warmup_candidates + 1)) * s.warmup_steps
            return warmup + sum(cc2_phase_steps(s.steps))
        return warmup + s.steps + (0 if s.recipe == "cc1" else s.ste_steps)

    def coding_seconds(self, image: Image, settings: CoolChicSettings,
                       step_seconds: float, budget: float | None = None) -> float:
        # the weight-step search evaluates the modules ~90 times (forward only; the ARM and
        # the synthesis apart, each a fraction of a training step); the latents' range coding
        # and the float64 render scale with the pixels
        return 12 * step_seconds + 3e-6 * image.num_pixels + 0.2

    def encode(self, image: Image, loss: Loss, settings: Any, *, device: torch.device,
               seed: int = 0, progress: ProgressFn | None = None) -> EncodeOutput:
        s: CoolChicSettings = settings
        # resolve the spec against the image now, so a bad spec fails before training
        resolve(s.synthesis, sum(s.latent_channels), image.channels)
        train_fn = fit if s.recipe == "default" else fit_recipe
        model, log = train_fn(image, loss, s, device=device, seed=seed, progress=progress)
        model = model.cpu().float()
        t = time.perf_counter()
        coded = code_model(model, loss, image.data.unsqueeze(0), s)
        log["quantize_seconds"] = time.perf_counter() - t
        log["quant_steps"] = {n: list(v) for n, v in coded.steps.items()}
        log["quantized_objective"] = coded.quant.cost
        log["estimated_latent_bytes"] = round(coded.quant.latent_bits / 8)
        log["section_bytes"] = {k: len(v) for k, v in coded.sections.items()}
        log["weight_coder"] = entropy.method_name(coded.sections["w"])
        log["num_params"] = int(sum(a.size for a in coded.ints))
        recon = coded.render(s, image.channels, image.height, image.width, device)
        return EncodeOutput(coded.sections, self.config_of(s), recon, log)

    def decode_cost(self, settings: Any, info: ImageInfo) -> Cost:
        return cost.checked(self.name, decode_cost, settings, info)

    def section_bounds(self, settings: Any, info: ImageInfo) -> dict[str, tuple[int, int]]:
        s: CoolChicSettings = settings
        try:
            shapes = _shapes(s, info.channels, info.height, info.width)
        except ConfigError as exc:
            raise DecodeError(f"{self.name}: {exc}") from None
        n_weights = sum(math.prod(sh) for sh in shapes)
        n_lat = sum(math.prod(sh) for sh in grid_shapes(s, info.height, info.width))
        return {"h": (_HEAD.size, _HEAD.size), "w": cost.weight_section(len(shapes), n_weights),
                "l": cost.latent_section(LATENT_HEAD_BYTES, n_lat)}

    def decode(self, settings: Any, sections: dict[str, bytes], info: ImageInfo, *,
               device: torch.device) -> torch.Tensor:
        s: CoolChicSettings = settings
        check_sections(self.name, sections, self.section_bounds(s, info))
        *kvals, crc = _HEAD.unpack(sections["h"])
        if any(k > max(K_RANGE) for k in kvals):
            raise DecodeError(f"{self.name}: corrupt quantisation steps")
        ks = {n: (kvals[2 * i], kvals[2 * i + 1]) for i, n in enumerate(MODULES)}
        try:
            shapes = _shapes(s, info.channels, info.height, info.width)
        except ConfigError as exc:
            raise DecodeError(f"{self.name}: {exc}") from None
        ints = [a.astype(np.int64) for a in entropy.decode_ints(sections["w"], shapes)]
        if cost.weight_crc(ints, kvals) != crc:
            raise DecodeError(f"{self.name}: corrupt weights (checksum mismatch)")
        n_arm = 2 * (len(s.arm_hidden) + 1)
        if any(np.abs(a).max(initial=0) > MAX_WEIGHT for a in ints[:n_arm]):
            raise DecodeError(f"{self.name}: corrupt ARM weights")
        grids = decode_latents(sections["l"], grid_shapes(s, info.height, info.width),
                               _int_arm(s, ints, ks["arm"]), s.arm_context)
        return _render(s, info.channels, info.height, info.width, ints, ks, grids, device)
