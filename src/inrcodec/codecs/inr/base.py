"""The weight-INR contract: codecs whose whole bitstream is the weights of a coordinate network
(COIN, PE-MLP, NIF).

Encode: overfit -> optional quantisation-aware fine-tuning (straight-through rounding of every
weight tensor) -> per-tensor uniform quantisation -> entropy coding (coding.entropy). The
reconstruction returned by encode is produced by the very function the decoder runs.

Decoding renders in float64 so that the tiny differences between BLAS kernels or thread counts
cannot flip the final rounding to integer codes in practice.
"""

from __future__ import annotations

import dataclasses
import math
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.func import functional_call

from ...coding import entropy
from ...coding.container import ImageInfo
from ...coding.limits import (
    ACT_MACS,
    FEATURE_MACS,
    PIXEL_MACS,
    TABLE_MACS,
    Cost,
    check_sections,
)
from ...coding.quantize import (
    MAX_BITS,
    MIN_BITS,
    dequantize,
    fake_quantize,
    qmax,
    quantize,
    step_for,
)
from ...compiling import compiled, wants_compile
from ...errors import ConfigError, DecodeError
from ...fitting import FitLog, optimize, seeded
from ...image import Image
from ...losses import Loss
from ..base import Codec, EncodeOutput, ProgressFn, timed_steps
from .fourier import clear_caches

RENDER_CHUNK = 1 << 16  # pixels per forward pass at decode time (bounds memory)


class CoordinateNet(torch.nn.Module):
    """A network that renders an image of a given size from its own parameters.

    Subclasses give the per-pixel inputs (`point_inputs`, constant for a given size) and the
    per-pixel function (`points`); keeping the two apart lets training compute the inputs once
    and compile `points` alone.
    """

    out_channels: int

    @abstractmethod
    def point_inputs(self, height: int, width: int) -> tuple[torch.Tensor, ...]:
        """Per-pixel inputs, each [H*W, D], row-major, on the parameters' device and dtype."""

    @abstractmethod
    def points(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Per-pixel inputs -> [P, C] outputs."""

    def render(self, height: int, width: int, chunk: int | None = None) -> torch.Tensor:
        """-> [1, C, H, W] (unclamped)."""
        return render_points(self.points, self.point_inputs(height, width), self.out_channels,
                             height, width, chunk)

    def forward(self, height: int, width: int, chunk: int | None = None) -> torch.Tensor:
        return self.render(height, width, chunk)


def render_points(fn: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...],
                  channels: int, height: int, width: int, chunk: int | None) -> torch.Tensor:
    """Run a per-point function over the grid (in chunks) and fold to [1, C, H, W]."""
    if chunk is None or inputs[0].shape[0] <= chunk:
        out = fn(*inputs)
    else:
        parts = zip(*(x.split(chunk) for x in inputs), strict=True)
        out = torch.cat([fn(*part) for part in parts])
    return out.t().reshape(1, channels, height, width)


# Compiling pays off only when amortised: below this many pixel-steps the first call's
# compilation (seconds; tens of seconds with a cold cache) costs more than it saves. The
# per-step gain is measured by benchmarks/inr_speed.py (results in benchmarks/results/).
COMPILE_MIN_PIXEL_STEPS = 100_000_000


def training_render(net: CoordinateNet, height: int, width: int,
                    compile_: bool) -> Callable[[], torch.Tensor]:
    """The fit phase's render: inputs computed once, `points` optionally torch.compile'd
    (eager mode, with a warning, if compilation fails)."""
    inputs = net.point_inputs(height, width)

    def fold(*x: torch.Tensor) -> torch.Tensor:
        return net.points(*x).t().reshape(1, net.out_channels, height, width)

    run = compiled(fold) if compile_ else fold
    return lambda: run(*inputs)


def code_weights(net: torch.nn.Module, bits: int, log: dict[str, Any]) -> dict[str, bytes]:
    """Per-tensor uniform quantisation, then entropy coding: sections "w" (the integers, by
    whichever coder gave fewer bytes) and "s" (the float32 steps); sizes go to `log`."""
    ints, steps = [], []
    for p in net.parameters():
        step = step_for(p, bits)
        steps.append(step)
        ints.append(quantize(p, step, bits))
    coded = entropy.encode_ints_all(ints)  # both coders: keep the shorter, log both sizes
    sections = {"w": min(coded.values(), key=len), "s": np.asarray(steps, dtype="<f4").tobytes()}
    log["weight_coder"] = entropy.method_name(sections["w"])
    log["weight_bytes"] = {k: len(v) for k, v in coded.items()}
    log["num_params"] = int(sum(i.size for i in ints))
    return sections


class WeightINRCodec(Codec):
    """Subclasses define `build(settings, channels)`; settings need steps, lr, bits, qat_steps
    (None: a tenth of steps) and qat_lr fields. Subclasses' `validate` call this one first."""

    @classmethod
    def resolve(cls, settings: Any) -> Any:
        if settings.qat_steps is None:
            return dataclasses.replace(settings, qat_steps=settings.steps // 10)
        return settings

    @classmethod
    def validate(cls, s: Any) -> None:
        """Range checks shared by every weight-INR codec's settings."""
        if not MIN_BITS <= s.bits <= MAX_BITS:
            raise ConfigError(f"bits must be in {MIN_BITS}..{MAX_BITS}")
        if s.qat_steps is None:
            raise ConfigError("qat_steps must be resolved before validation")
        if s.steps < 0 or s.qat_steps < 0:
            raise ConfigError("steps must be >= 0")
        if not (s.lr > 0 and s.qat_lr > 0):
            raise ConfigError("learning rates must be > 0")

    @abstractmethod
    def build(self, settings: Any, channels: int) -> CoordinateNet:
        ...

    # -- time budgets --------------------------------------------------------------------------
    def seconds_per_step(self, image: Image, settings: Any, device: torch.device) -> float:
        from ...losses import parse_loss

        net = self.build(settings, image.channels).to(device)
        target = image.data.unsqueeze(0).to(device)
        render = training_render(net, image.height, image.width, False)
        probe = dataclasses.replace(settings, steps=10, qat_steps=0)
        if hasattr(probe, "rounds"):
            probe = dataclasses.replace(probe, rounds=1)
        return timed_steps(lambda report: self.train_phase(
            net, render, target, parse_loss("mse"), probe, False, report, 0), skip=3)

    @classmethod
    def planned_steps(cls, s: Any) -> int:
        return s.steps + s.qat_steps

    def coding_seconds(self, image: Image, settings: Any, step_seconds: float,
                       budget: float | None = None) -> float:
        # quantisation and entropy coding are cheap; the float64 render is a few forward passes
        return 3 * step_seconds + 2e-6 * image.num_pixels + 0.3

    def train_phase(self, net: CoordinateNet, render: Callable[[], torch.Tensor],
                    target: torch.Tensor, loss: Loss, settings: Any, qat: bool,
                    progress: ProgressFn | None, seed: int) -> FitLog:
        """One training phase (float fit, or QAT when `qat`); codecs override the recipe.
        `seed` is the encode's seed, for recipes that draw random numbers of their own."""
        if qat:
            return optimize(net, render, target, loss, settings.qat_steps, settings.qat_lr,
                            phase="qat", progress=progress)
        return optimize(net, render, target, loss, settings.steps, settings.lr, phase="fit",
                        progress=progress)

    def encode(self, image: Image, loss: Loss, settings: Any, *, device: torch.device,
               seed: int = 0, progress: ProgressFn | None = None) -> EncodeOutput:
        seeded(seed)  # the network's initial weights
        net = self.build(settings, image.channels).to(device)
        target = image.data.unsqueeze(0).to(device)
        h, w = image.height, image.width
        compile_ = wants_compile(getattr(settings, "compile", False), h * w, settings.steps,
                                  COMPILE_MIN_PIXEL_STEPS)
        fit = self.train_phase(net, training_render(net, h, w, compile_), target, loss,
                               settings, False, progress, seed)
        log = {"compiled": compile_, "fit_steps": fit.steps, "fit_loss": fit.best_loss,
               "fit_seconds": fit.seconds}
        if settings.qat_steps > 0:
            def render_q() -> torch.Tensor:
                params = {n: fake_quantize(p, settings.bits) for n, p in net.named_parameters()}
                return functional_call(net, params, (h, w))

            qat = self.train_phase(net, render_q, target, loss, settings, True, progress, seed)
            log.update(qat_steps=qat.steps, qat_loss=qat.best_loss, qat_seconds=qat.seconds)
        sections = code_weights(net, settings.bits, log)
        recon = self._render_quantized(settings, image.channels, sections, h, w, device)
        return EncodeOutput(sections, self.config_of(settings), recon, log)

    def decode(self, settings: Any, sections: dict[str, bytes], info: ImageInfo, *,
               device: torch.device) -> torch.Tensor:
        return self._render_quantized(settings, info.channels, sections, info.height,
                                      info.width, device)

    # -- what a decode costs (from the header alone) -------------------------------------------
    def meta_net(self, settings: Any, channels: int) -> CoordinateNet:
        """The network without memory (torch's meta device): shapes, nothing allocated."""
        with torch.device("meta"):
            return self.build(settings, channels)

    def decode_cost(self, settings: Any, info: ImageInfo) -> Cost:
        net = self.meta_net(settings, info.channels)
        shapes = [tuple(p.shape) for p in net.parameters()]
        params = sum(math.prod(sh) for sh in shapes)
        linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
        macs_px = sum(m.in_features * m.out_features for m in linears)
        acts_px = sum(m.out_features for m in linears)  # sines, ReLUs, bias adds
        widths = [int(x.shape[-1]) for x in net.point_inputs(1, 1)]
        feats_px = sum(widths) - 2 * len(widths)  # sines and cosines of the Fourier features
        pixels, c = info.height * info.width, info.channels
        support = min(entropy.MAX_SUPPORT, 2 * qmax(settings.bits) + 1)
        macs = (pixels * (macs_px + ACT_MACS * acts_px + FEATURE_MACS * feats_px
                          + PIXEL_MACS * c)
                + TABLE_MACS * support * len(shapes))
        chunk = min(pixels, RENDER_CHUNK)
        act = max(m.out_features for m in linears)
        widest_in = max(m.in_features for m in linears)
        peak = (PARAM_BYTES * params + TABLE_BYTES * support + OUTPUT_BYTES * pixels * c
                + 8 * pixels * sum(widths)  # the inputs, alive through the render
                + max(12 * pixels * max(widths),  # while they are built
                      8 * chunk * (2 * act + widest_in)))  # one chunk's activations
        detail = (", ".join(f"{k}={_brief(getattr(settings, k))}" for k in self.decode_fields
                            if k != "bits") + f", {info.width}x{info.height}")
        return Cost(params, macs, peak, detail)

    def section_bounds(self, settings: Any, info: ImageInfo) -> dict[str, tuple[int, int]]:
        net = self.meta_net(settings, info.channels)
        return _bounds([tuple(p.shape) for p in net.parameters()])

    def _render_quantized(self, settings: Any, channels: int, sections: dict[str, bytes],
                          height: int, width: int, device: torch.device) -> torch.Tensor:
        net = self.meta_net(settings, channels)
        shapes = [tuple(p.shape) for p in net.parameters()]
        check_sections(self.name, sections, _bounds(shapes))
        steps = np.frombuffer(sections["s"], dtype="<f4")
        level = qmax(settings.bits)
        for i, step in enumerate(steps.tolist()):
            if not (math.isfinite(step) and step > 0 and step * level <= MAX_ABS_WEIGHT):
                raise DecodeError(f"{self.name}: corrupt quantisation step of tensor {i} "
                                  f"({step!r}: weights must be finite and within "
                                  f"+-{MAX_ABS_WEIGHT:g})")
        ints = entropy.decode_ints(sections["w"], shapes, max_abs=level)
        # every parameter is overwritten below; built on the CPU rather than `to_empty` from
        # the meta device, which imports torch's symbolic shapes (~0.4 s of a first decode)
        with torch.random.fork_rng(devices=[]):  # building draws nothing for the caller
            net = self.build(settings, channels)
        with torch.no_grad():
            for p, q, step in zip(net.parameters(), ints, steps, strict=True):
                p.copy_(dequantize(q, float(step), p.shape))
            net = net.to(device=device, dtype=torch.float64)
            try:
                out = net.render(height, width, chunk=RENDER_CHUNK)
            finally:
                clear_caches()  # a decoder does not keep the image-sized inputs alive
        if not bool(torch.isfinite(out).all()):
            raise DecodeError(f"{self.name}: the weights render non-finite values (corrupt "
                              "weights)")
        return out[0].clamp(0, 1).float().cpu()


# Memory model of a decode (bytes), measured by benchmarks/decode_limits.py: per parameter
# (float32 weights, float64 copy, decoded integers, dequantisation), per entry of an
# entropy-coding table, per output value (the float64 render and its transposed copy, the
# clamp, the float32 image, integer codes: about 28 bytes at the peak).
PARAM_BYTES, TABLE_BYTES, OUTPUT_BYTES = 40, 48, 32
MAX_ABS_WEIGHT = float(1 << 20)  # |dequantised weight| a file may hold


def _bounds(shapes: list[tuple[int, ...]]) -> dict[str, tuple[int, int]]:
    """Section lengths of a network with these parameter shapes: the step table exactly, the
    weight stream at most 8 bytes a weight (either coder's worst case, with room to spare)."""
    params = sum(math.prod(sh) for sh in shapes)
    return {"w": (1, 64 + 64 * len(shapes) + 8 * params), "s": (4 * len(shapes),) * 2}


def _brief(v: Any) -> str:
    if isinstance(v, tuple | list):
        return "[" + ", ".join(map(str, v[:4])) + (", ...]" if len(v) > 4 else "]")
    return str(v)
