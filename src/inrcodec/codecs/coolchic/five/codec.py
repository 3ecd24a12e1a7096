"""`coolchic`: the Cool-chic 5-class codec (settings checks, encode, decode, budgets).

File sections (the container's config is empty: the model description is one byte here, not
~60 bytes of JSON in the header, which matters for files of a few kilobytes):
  h  the model byte (decoder index in bits 0-1; hyperlatents, ifce, preconcat, stabilisers in
     bits 2-5), (kw, kb) of arm, ifce, upsampling, synthesis (8 bytes) and a CRC-32 of the
     model byte, those steps and every integer weight
  w  the integer weights in file order, as one array per module and kind (weights, biases),
     each with its own discrete-Laplace model (coding.entropy)
  l  every latent and hyperlatent grid, range-coded with the fixed-point ARM and IFCE
     (`intcoder`), coarse to fine

The reconstruction returned by encode is the decoder's own float64 render of the integers.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import time
from typing import Any

import numpy as np
import torch

from ....budget import SAFETY
from ....coding import entropy
from ....coding.container import ImageInfo
from ....coding.limits import ACT_MACS, LATENT_MACS, WAVE_MACS, Cost, check_sections
from ....errors import ConfigError, DecodeError
from ....image import Image
from ....losses import Loss
from ...base import Codec, EncodeOutput, ProgressFn, timed_steps
from .. import cost
from ..arm import wave_factor
from ..rdquant import to_ints
from ..synthesis import parse_spec, resolve
from .entropy import offsets, pads
from .intcoder import (
    STREAM_HEAD_BYTES,
    IntARM5,
    IntIFCE,
    IntModule,
    decode_grids,
    encode_grids,
    rounds,
)
from .layout import DECODERS, Grid, macs_per_pixel
from .model import MODULES, CoolChic5Model, CoolChic5Settings, layout_of, module_tensors
from .optim import OPTIMIZERS
from .quant import K_RANGES, MAX_INT, Evaluator, quantize
from .train import Phase, fit, plan, run_phase

_HEAD = struct.Struct("<9BI")
# Under a time budget, RDOQ's evaluations are reserved for (taken from training) only when they
# are at most this share of the budget; otherwise RDOQ runs in whatever time the encode has
# left after the step search (it is anytime: random order, stopped at the end). At full Kodak
# size its ~2,300 whole-image evaluations take 10-12 % of a 600 s clock for 0.06-0.34 % of the
# rate-distortion cost, time that training uses better (benchmarks/results/coolchic5_summary.md).
RDOQ_MAX_BUDGET_SHARE = 0.05
FLAGS = ("hyperlatents", "ifce", "preconcat", "stabilisers")
DECODER_NAMES = tuple(DECODERS)


def model_byte(s: CoolChic5Settings) -> int:
    return DECODER_NAMES.index(s.decoder) | sum(
        int(getattr(s, f)) << (2 + i) for i, f in enumerate(FLAGS))


def settings_of_byte(s: CoolChic5Settings, b: int) -> CoolChic5Settings:
    if b >> (2 + len(FLAGS)):
        raise DecodeError(f"coolchic: section 'h': model byte {b:#04x} sets unknown bits "
                          f"(decoder in bits 0-1, {', '.join(FLAGS)} in bits 2-5)")
    flags = {f: bool(b >> (2 + i) & 1) for i, f in enumerate(FLAGS)}
    return dataclasses.replace(s, decoder=DECODER_NAMES[b & 3], **flags)


_META: dict[tuple[str, int, int, int], CoolChic5Model] = {}


def _meta_model(s: CoolChic5Settings, info_or_image: Any) -> CoolChic5Model:
    """The model's structure on the meta device (no memory, no random draws), kept for the
    last few settings and sizes: a decode asks for it three times (cost, bounds, weights)."""
    key = (repr(s), info_or_image.height, info_or_image.width, info_or_image.channels)
    if key not in _META:
        if len(_META) >= 4:
            _META.clear()
        with torch.device("meta"):
            _META[key] = CoolChic5Model(s, *key[1:])
    return _META[key]


def _tensor_shapes(model: CoolChic5Model) -> list[tuple[str, int, tuple[int, ...]]]:
    """(module, 0 weight / 1 bias, shape) of every coded tensor in file order."""
    out = []
    for name in MODULES:
        ws, bs = module_tensors(model, name)
        out += [(name, 0, tuple(t.shape)) for t in ws] + [(name, 1, tuple(t.shape)) for t in bs]
    return out


def _groups(model: CoolChic5Model) -> list[list[int]]:
    """Indices (file order) of the tensors of each coded array: a module's weights, then its
    biases, each group one array with one entropy model (5.0.1's grouping: a model per tensor
    cost ~6 bytes of parameters for tensors of a few values)."""
    out: dict[tuple[str, int], list[int]] = {}
    for i, (name, kind, _) in enumerate(_tensor_shapes(model)):
        out.setdefault((name, kind), []).append(i)
    return [out.get((n, kind), []) for n in MODULES for kind in (0, 1)]


def _pack_weights(model: CoolChic5Model, ints: list[np.ndarray]) -> bytes:
    return entropy.encode_ints([np.concatenate([ints[i].reshape(-1) for i in g])
                                if g else np.zeros(0, np.int64) for g in _groups(model)])


def array_shapes(model: CoolChic5Model) -> list[tuple[int]]:
    """The shapes of the coded arrays of section w (`_groups`), flat."""
    shapes = [sh for _, _, sh in _tensor_shapes(model)]
    return [(sum(math.prod(shapes[i]) for i in g),) for g in _groups(model)]


def _unpack_weights(model: CoolChic5Model, data: bytes) -> list[np.ndarray]:
    """The integer weights of section w, each within +-MAX_INT (the quantiser's bound, which
    also keeps the fixed-point ARM and IFCE exact): refused before any table is built."""
    shapes = [sh for _, _, sh in _tensor_shapes(model)]
    groups = _groups(model)
    flat = entropy.decode_ints(data, array_shapes(model), max_abs=MAX_INT)
    ints: list[np.ndarray] = [np.zeros(0)] * len(shapes)
    for g, a in zip(groups, flat, strict=True):
        offs = np.cumsum([0] + [math.prod(shapes[i]) for i in g])
        for n, i in enumerate(g):
            ints[i] = a[offs[n]:offs[n + 1]].astype(np.int64).reshape(shapes[i])
    return ints


def _int_modules(model: CoolChic5Model, ints: list[np.ndarray],
                 ks: dict[str, tuple[int, int]]) -> dict[str, IntModule]:
    mods = {n: IntModule([], [], *ks[n]) for n in MODULES}
    for (name, kind, _), a in zip(_tensor_shapes(model), ints, strict=True):
        (mods[name].biases if kind else mods[name].weights).append(a.reshape(a.shape))
    return mods


def _coders(s: CoolChic5Settings, mods: dict[str, IntModule], features: int
            ) -> tuple[IntARM5, IntIFCE | None]:
    arm = IntARM5(mods["arm"], s.dec.hidden, s.stabilisers, s.dec.spatial)
    return arm, (IntIFCE(mods["ifce"]) if features else None)


def code_sections(s: CoolChic5Settings, model: CoolChic5Model, ks: dict[str, tuple[int, int]],
                  values: dict[Grid, np.ndarray]) -> tuple[dict[str, bytes], list[np.ndarray]]:
    """Sections h, w and l of a model whose modules are coded at steps 2^-ks (its tensors
    already multiples of them) and whose grids hold the integers `values`; and the integer
    weights, in file order."""
    tensors = [t for n in MODULES for t in sum(module_tensors(model, n), [])]
    ints = [to_ints(t, ks[name][kind])
            for (name, kind, _), t in zip(_tensor_shapes(model), tensors, strict=True)]
    head = [model_byte(s), *(k for name in MODULES for k in ks[name])]
    arm, ifce = _coders(s, _int_modules(model, ints, ks), model.layout.features)
    return {"h": _HEAD.pack(*head, cost.weight_crc(ints, head)),
            "w": _pack_weights(model, ints),
            "l": encode_grids(model.layout, values, arm, ifce, s.dec.spatial)}, ints


def _render(s: CoolChic5Settings, image: Any, ints: list[np.ndarray],
            ks: dict[str, tuple[int, int]], values: dict[Grid, np.ndarray],
            device: torch.device) -> torch.Tensor:
    """The decoded image, in float64: encoder and decoder both call this."""
    with torch.random.fork_rng(devices=[]):  # building the model draws nothing for the caller
        model = CoolChic5Model(s, image.height, image.width, image.channels).double()
    with torch.no_grad():
        for (name, kind, _), a, t in zip(_tensor_shapes(model), ints,
                                         [t for n in MODULES for t in sum(module_tensors(
                                             model, n), [])], strict=True):
            t.copy_(torch.from_numpy(a).double() * 2.0 ** -ks[name][kind])
        model = model.to(device)
        lat = [torch.from_numpy(values[g]).double()[None, None].to(device)
               for g in model.layout.latents]
        out = model.synthesis.forward_strips(model.upsampling(lat))
    if not bool(torch.isfinite(out).all()):  # extreme weights can overflow float64
        raise DecodeError("coolchic: the weights render non-finite values (corrupt weights)")
    return out[0].clamp(0, 1).float().cpu()


def tail_seconds(pixels: int) -> float:
    """What an encode spends after quantisation: range coding and the float64 render."""
    return 4e-6 * pixels + 0.3


def coding_estimate(s: CoolChic5Settings, per_evaluation: float, params: int, pixels: int,
                    budget: float | None = None) -> float:
    """Seconds of coding after training: the step search's evaluations, RDOQ's (~2.3 per
    coded integer; left out under a budget they would take more than RDOQ_MAX_BUDGET_SHARE
    of), the tail."""
    rdoq = 2.3 * params * per_evaluation if s.rdoq else 0.0
    if budget is not None and rdoq > RDOQ_MAX_BUDGET_SHARE * budget:
        rdoq = 0.0
    return (150 if s.quantize_search else 4) * per_evaluation + rdoq + tail_seconds(pixels)


def decode_cost(s: CoolChic5Settings, info: ImageInfo) -> Cost:
    """Parameters, MACs and peak memory of decoding (`coding.limits`, `..cost`) a file of
    these settings (the model byte applied) and image size; the model exists on the meta
    device only. The same units as v1/v2: the synthesis per pixel, the upsampler's outputs,
    per coded symbol (latents and hyperlatents) its ARM MACs plus the latent constant, per
    wave of each coding round the wave constant, the entropy-coding tables."""
    h, w, c = info.height, info.width, info.channels
    model = _meta_model(s, info)
    layout, d, f = model.layout, s.dec, model.layout.features
    n_weights = sum(math.prod(sh) for _, _, sh in _tensor_shapes(model))
    n_arrays = sum(1 for g in _groups(model) if g)
    n_sym, levels, pixels = layout.symbols, layout.levels, h * w
    syn_px, strip_bytes = cost.synthesis(resolve(d.synthesis, levels, c), h, w, c)
    if s.stabilisers:  # a 1x1 convolution of the whole stack, added to the output
        syn_px += levels * c + ACT_MACS * c
    up = cost.upsampled_values((1,) * levels, [g.shape for g in layout.latents])
    if s.preconcat:  # every level but the coarsest through its 7x7 pre-filter (two passes)
        up += sum(g.size for g in layout.latents[:-1])
    width = d.spatial + f  # ARM: hidden C -> C blocks, output (and stabiliser) C -> 2
    arm = (d.hidden * width * width + 2 * width * (1 + s.stabilisers)
           + ACT_MACS * (d.hidden * width + 2))
    # IFCE of level k: the stack of the grids coded before it (each value copied into it) at
    # level k + 1's resolution, one linear map to F features, upsampled to level k
    ifce = sum(layout.ifce_inputs(k) * (f + ACT_MACS) * layout.latents[k + 1].size
               + ACT_MACS * f * (layout.latents[k + 1].size + layout.latents[k].size)
               for k in layout.ifce_levels)
    offs = offsets(d.spatial)
    k = wave_factor(offs) if offs else 1
    n_waves = sum(cost.waves([g.shape for g in grids], k) for grids in rounds(layout))
    table_macs, table_bytes = cost.tables(n_arrays)
    macs = (pixels * syn_px + cost.UPSAMPLE_MACS * up + (arm + LATENT_MACS) * n_sym + ifce
            + WAVE_MACS * n_waves + table_macs)
    # latents: a round's padded buffer, geometry and [n, F] features (their parts, the
    # concatenation, the wave order), the IFCE's stack; render: the decoded integers, the
    # model's latent parameters and their float64 copies, the full-resolution stack, the
    # trunk's output and the stabiliser's (two more full images)
    left, right, top = pads(offs)
    padded = sum((a + top) * (left + b + right) for a, b in (g.shape for g in layout.order))
    stack = max((layout.ifce_inputs(k) * layout.latents[k + 1].size
                 for k in layout.ifce_levels), default=0)
    latent_phase = (cost.LATENT_BYTES + 24 * f) * n_sym + 8 * padded + 24 * stack
    render_phase = (24 * n_sym + cost.FEATURE_BYTES * (h + 4) * (w + 4) * levels
                    + (cost.OUTPUT_BYTES + 16 * s.stabilisers) * pixels * c + strip_bytes)
    peak = (cost.BASE_BYTES + cost.PARAM_BYTES * n_weights + table_bytes
            + max(latent_phase, render_phase))
    flags = ", ".join(fl for fl in FLAGS if getattr(s, fl)) or "no flags"
    detail = f"decoder={s.decoder} ({flags}), {levels} latent levels, {w}x{h}"
    return Cost(n_weights + n_sym, macs, peak, detail)


class CoolChic5(Codec):
    """Cool-chic 5.0.1-class image coding (Orange's intra recipe, measured on CPU)."""

    name = "coolchic"
    settings_cls = CoolChic5Settings
    setting_aliases = {"steps": "iterations"}  # its budget counts every training step
    decode_fields = ()  # the model description is in section h (`model_byte`)
    presets = {
        # RDOQ's gain grows with the weights' share of the file: -0.3 % of the bytes at lambda
        # 1e-3 (speed-s1), -0.6 to -2.2 % and +0.01 to +0.06 dB at 2e-2 (the weights 15-43 % of
        # the file there), for ~7 % of a short encode's time: `fast` runs it from a 15 % share
        # (coolchic_vs_cc501_w05_fmt2_rdoq.md)
        "fast": {"iterations": 2000, "rdoq_min_share": 0.15},
        # the long presets decode with mop: at 5000 iterations its larger synthesis and ARM buy
        # more rate-distortion than their extra cost per step, most on smooth images; at short
        # budgets on speed-s1's detailed crop they did not pay, so `fast` keeps lop
        # (coolchic5_summary.md)
        "default": {"iterations": 5000, "decoder": "mop"},
        # SOAP pays at short budgets but not at 10,000 iterations, where Adam on the networks
        # matched or beat it on both images measured, at a cheaper step
        # (coolchic_vs_cc501_10k.md)
        "slow": {"iterations": 10000, "decoder": "mop", "optimizer": "adam"},
    }

    @classmethod
    def validate(cls, s: CoolChic5Settings) -> None:
        n = cls.name
        if s.decoder not in DECODERS:
            raise ConfigError(f"{n}: decoder must be one of {', '.join(DECODERS)}")
        for flag in ("hyperlatents", "ifce", "preconcat", "stabilisers", "warmup", "hard_final",
                     "quantize_search", "rdoq", "bf16"):
            if not isinstance(getattr(s, flag), bool):
                raise ConfigError(f"{n}: {flag} must be true or false")
        if not (s.compile is None or isinstance(s.compile, bool)):
            raise ConfigError(f"{n}: compile must be true, false or left unset (auto)")
        parse_spec(s.dec.synthesis)

        def number(v: Any) -> bool:
            return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

        if not (number(s.lmbda) and s.lmbda >= 0):
            raise ConfigError(f"{n}: lmbda must be >= 0")
        if not (isinstance(s.iterations, int) and not isinstance(s.iterations, bool)
                and 1 <= s.iterations <= 10_000_000):
            raise ConfigError(f"{n}: iterations must be a positive integer")
        if not all(number(v) and v > 0 for v in (s.lr, s.final_lr, s.min_lr)):
            raise ConfigError(f"{n}: learning rates must be > 0")
        if s.optimizer not in OPTIMIZERS:
            raise ConfigError(f"{n}: optimizer must be one of {', '.join(OPTIMIZERS)}")
        for name in ("weight_decay", "warmup_noise", "latent_gain", "grad_clip"):
            v = getattr(s, name)
            if not (number(v) and v >= 0):
                raise ConfigError(f"{n}: {name} must be a number >= 0")
        t = tuple(s.temperature) if isinstance(s.temperature, tuple | list) else ()
        if len(t) != 2 or not all(number(v) and 0 < v <= 1 for v in t):
            raise ConfigError(f"{n}: temperature is (start, end) in (0, 1]")
        z = tuple(s.noise) if isinstance(s.noise, tuple | list) else ()
        if len(z) != 2 or not all(number(v) and 0 <= v <= 2 for v in z):
            raise ConfigError(f"{n}: noise is (start, end) in [0, 2]")
        if not (number(s.warmup_rate_weight) and 0 <= s.warmup_rate_weight <= 1):
            raise ConfigError(f"{n}: warmup_rate_weight must be in [0, 1]")
        if not (number(s.rdoq_min_share) and 0 <= s.rdoq_min_share <= 1):
            raise ConfigError(f"{n}: rdoq_min_share must be in [0, 1]")
        if not (number(s.final_share) and 0 <= s.final_share <= 0.5):
            raise ConfigError(f"{n}: final_share must be in [0, 0.5]")
        for name in ("patience", "eval_every"):
            v = getattr(s, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= (name == "eval_every")):
                raise ConfigError(f"{n}: {name} must be an integer >= "
                                  f"{int(name == 'eval_every')}")

    def describe(self, settings: CoolChic5Settings, info: ImageInfo,
                 sections: dict[str, bytes]) -> dict[str, Any]:
        settings = self.settings_from_sections(settings, sections)
        layout = layout_of(settings, info.height, info.width)
        macs = macs_per_pixel(settings.dec, layout, info.channels, settings.preconcat,
                              settings.stabilisers)
        return {"macs_per_pixel": round(macs["total"], 1),
                "macs_by_module": {k: round(v, 2) for k, v in macs.items() if k != "total"},
                "decoder": settings.decoder,
                "model": {f: getattr(settings, f) for f in FLAGS}}

    # -- time budgets --------------------------------------------------------------------------
    def seconds_per_step(self, image: Image, settings: CoolChic5Settings,
                         device: torch.device) -> float:
        from ....losses import parse_loss

        model = CoolChic5Model(settings, image.height, image.width, image.channels).to(device)
        target = image.data.unsqueeze(0).to(device)
        phase = Phase("main", 10, (settings.lr, settings.lr), "softround", (0.3, 0.3),
                      (0.2, 0.2))
        levels = (1 << image.bit_depth) - 1
        return timed_steps(lambda report: run_phase(model, parse_loss("mse"), target, settings,
                                                    phase, levels, progress=report), skip=3)

    @classmethod
    def planned_steps(cls, s: CoolChic5Settings) -> int:
        return plan(s).total

    def coding_seconds(self, image: Image, settings: CoolChic5Settings,
                       step_seconds: float, budget: float | None = None) -> float:
        # the step search makes ~150 evaluations and RDOQ ~2.3 per coded integer, each a
        # forward of the ARM or the synthesis: timed here on a fresh model; range coding and
        # the float64 render scale with the pixels. RDOQ is reserved for only where it takes
        # at most RDOQ_MAX_BUDGET_SHARE of the budget; elsewhere it runs in the time left.
        from ....losses import parse_loss

        model = CoolChic5Model(settings, image.height, image.width, image.channels)
        params = sum(math.prod(sh) for _, _, sh in _tensor_shapes(model))
        with torch.no_grad():
            ev = Evaluator(model, parse_loss("mse"), image.data.unsqueeze(0), settings.lmbda,
                           (1 << image.bit_depth) - 1)
            t = time.perf_counter()
            for name in ("arm", "synthesis", "arm", "synthesis"):
                ev.refresh(name)
                ev.cost(name, (8, 8))
            per = (time.perf_counter() - t) / 4
        return coding_estimate(settings, per, params, image.num_pixels, budget)

    # -- coding --------------------------------------------------------------------------------
    def encode(self, image: Image, loss: Loss, settings: Any, *, device: torch.device,
               seed: int = 0, progress: ProgressFn | None = None) -> EncodeOutput:
        s: CoolChic5Settings = settings
        resolve(s.dec.synthesis, layout_of(s, image.height, image.width).levels, image.channels)
        model, log = fit(image, loss, s, device=device, seed=seed, progress=progress)
        model = model.cpu().float()
        t = time.perf_counter()
        q = quantize(model, loss, image.data.unsqueeze(0), s, (1 << image.bit_depth) - 1, seed,
                     tail=SAFETY * tail_seconds(image.num_pixels))
        ks = q.steps
        values = {g: v.numpy().astype(np.int64)
                  for g, v in model.grid_values(model.rounded()).items()}
        sections, ints = code_sections(s, model, ks, values)
        log["quantize_seconds"] = time.perf_counter() - t
        log["quant_steps"] = {n: list(v) for n, v in ks.items()}
        log["quantized_objective"] = q.cost
        log["rdoq_objective"] = q.rdoq_cost
        log["rdoq_moves"] = q.moves
        log["rdoq_ran"] = q.rdoq_ran
        log["weight_share"] = round(q.weight_share, 4)
        log["quant_evaluations"] = q.evaluations
        log["estimated_latent_bytes"] = round(q.latent_bits / 8)
        log["section_bytes"] = {k: len(v) for k, v in sections.items()}
        log["num_params"] = int(sum(a.size for a in ints))
        log["macs_per_pixel"] = self.describe(s, ImageInfo(image.height, image.width,
                                                           image.channels),
                                              sections)["macs_per_pixel"]
        recon = _render(s, image, ints, ks, values, device)
        return EncodeOutput(sections, self.config_of(s), recon, log)

    def settings_from_sections(self, settings: Any, sections: dict[str, bytes]
                               ) -> CoolChic5Settings:
        """The decoder and model flags of the model byte (the first of section h)."""
        h = sections.get("h")
        if h is None:
            raise DecodeError(f"{self.name}: missing section 'h' (the model description)")
        if len(h) != _HEAD.size:
            raise DecodeError(f"{self.name}: section 'h' is {len(h)} bytes, expected "
                              f"{_HEAD.size}")
        return settings_of_byte(settings, h[0])

    def decode_cost(self, settings: Any, info: ImageInfo) -> Cost:
        return cost.checked(self.name, decode_cost, settings, info)

    def section_bounds(self, settings: Any, info: ImageInfo) -> dict[str, tuple[int, int]]:
        try:
            model = _meta_model(settings, info)
        except ConfigError as exc:
            raise DecodeError(f"{self.name}: {exc}") from None
        n_weights = sum(math.prod(sh) for _, _, sh in _tensor_shapes(model))
        return {"h": (_HEAD.size, _HEAD.size),
                "w": cost.weight_section(len(_groups(model)), n_weights),
                "l": cost.latent_section(STREAM_HEAD_BYTES, model.layout.symbols)}

    def decode(self, settings: Any, sections: dict[str, bytes], info: ImageInfo, *,
               device: torch.device) -> torch.Tensor:
        s = self.settings_from_sections(settings, sections)
        check_sections(self.name, sections, self.section_bounds(s, info))
        mbyte, *kvals, crc = _HEAD.unpack(sections["h"])
        ks = {n: (kvals[2 * i], kvals[2 * i + 1]) for i, n in enumerate(MODULES)}
        for name in MODULES:
            for kind, (k, allowed) in enumerate(zip(ks[name], K_RANGES[name], strict=True)):
                if k not in allowed:
                    raise DecodeError(
                        f"{self.name}: section 'h': {name} {('weight', 'bias')[kind]} step "
                        f"2^-{k} outside 2^-{allowed.start}..2^-{allowed[-1]}")
        model = _meta_model(s, info)  # section_bounds built it: no ConfigError here
        try:
            ints = _unpack_weights(model, sections["w"])
        except DecodeError as exc:
            raise DecodeError(f"{self.name}: section 'w': {exc}") from None
        if cost.weight_crc(ints, [mbyte, *kvals]) != crc:
            raise DecodeError(f"{self.name}: corrupt weights (checksum mismatch)")
        arm, ifce = _coders(s, _int_modules(model, ints, ks), model.layout.features)
        try:
            values = decode_grids(sections["l"], model.layout, arm, ifce, s.dec.spatial)
        except DecodeError as exc:
            raise DecodeError(f"{self.name}: section 'l': {exc}") from None
        return _render(s, info, ints, ks, values, device)
