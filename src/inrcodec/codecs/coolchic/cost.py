"""What decoding a Cool-chic file costs, shared by v1/v2 (`codec`) and 5 (`five.codec`).

Both decoders do the same kinds of work: the integer weights' entropy decoding (one
discrete-Laplace table per coded array), the latents' wavefront decoding with the
fixed-point ARM (per latent: context gather, ARM, range coder; per wave: one ARM call and one
range-decoder call, `coding.limits`), the upsampling of the latents to a full-resolution
stack, and the synthesis in row strips, in float64. The per-unit constants were measured by
benchmarks/decode_limits.py on v2 and checked on 5 (benchmarks/results/decode_limits.md).
Also here: the CRC both formats keep of their steps and integer weights, and the bounds of
their weight and latent sections.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...coding.container import ImageInfo
from ...coding.entropy import MAX_SUPPORT
from ...coding.limits import ACT_MACS, PIXEL_MACS, TABLE_MACS, Cost
from ...errors import ConfigError, DecodeError
from .arm_int import MAX_ALPHABET, N_SCALES
from .synthesis import LayerSpec

# Memory model of a decode (bytes). Two phases peak apart: decoding the latents (per latent:
# the wavefront geometry's index arrays, the decoded grids) and rendering (per latent: its
# float64 copy; per upsampled feature value: the full-resolution stack and the upsampler's
# temporaries; per output value: strips, their concatenation, the clamp, the float32 image,
# integer codes). Per weight as weight-INRs, per entry of an entropy-coding table, and a
# fixed allowance for small temporaries.
LATENT_BYTES, FEATURE_BYTES, OUTPUT_BYTES, PARAM_BYTES, TABLE_BYTES = 160, 24, 32, 40, 48
BASE_BYTES = 64 << 20
# MAC-equivalents per value the upsampler outputs: 8 taps, but some 30 element-wise passes
# (padding, polyphase products, interleaving, transposes, cropping, stacking)
UPSAMPLE_MACS = 384
STRIP_ROWS = 32  # Synthesis.forward_strips' default
# the latents' probability table at the largest alphabet a file may declare
LATENT_TABLE = N_SCALES * 16 * (2 * MAX_ALPHABET + 1)


def weight_crc(arrays: list[np.ndarray], ks: list[int]) -> int:
    """CRC-32 of the header's step bytes and the integer weights (catches corruption the
    entropy decoder cannot see, when a codec's decode is handed sections without the
    container)."""
    crc = zlib.crc32(bytes(ks))
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(a, dtype="<i8").tobytes(), crc)
    return crc


def weight_section(n_arrays: int, n_weights: int) -> tuple[int, int]:
    """(min, max) bytes of a weight section (`coding.entropy`: method byte, per-array model
    parameters, at most 8 bytes a weight for either coder)."""
    return 1, 64 + 64 * n_arrays + 8 * n_weights


def latent_section(head: int, n_latents: int) -> tuple[int, int]:
    """(min, max) bytes of a latent stream: its header, then at most 8 bytes a latent (the
    range coder's probabilities are at least 2^-24)."""
    return head, head + 64 + 8 * n_latents


def waves(shapes: Sequence[tuple[int, int]], k: int) -> int:
    """Waves of the wavefront over grids decoded together: position (i, j) is in wave
    j + k i."""
    return max(((b - 1) + k * (a - 1) + 1 for a, b in shapes if a * b), default=0)


def tables(n_arrays: int) -> tuple[int, int]:
    """(MAC-equivalents, bytes) of the entropy-coding tables built at decode time: the
    latents' table at the largest alphabet, one table per coded weight array."""
    return (TABLE_MACS * (LATENT_TABLE + n_arrays * MAX_SUPPORT),
            24 * LATENT_TABLE + TABLE_BYTES * MAX_SUPPORT)


def upsampled_values(channels: Sequence[int], shapes: Sequence[tuple[int, int]]) -> int:
    """Values the upsampler outputs: at each level, the coarser levels' stack (`channels`
    per level, finest first) upsampled 2x from its 2-padded grid."""
    return sum(sum(channels[lv + 1:]) * 4 * (shapes[lv + 1][0] + 4) * (shapes[lv + 1][1] + 4)
               for lv in range(len(channels) - 1))


def synthesis(rows: list[tuple[int, int, LayerSpec]], height: int, width: int,
              channels: int) -> tuple[int, int]:
    """(MAC-equivalents per pixel, bytes of the widest strip's temporaries) of the synthesis
    in row strips (`Synthesis.forward_strips`), output handling included."""
    macs = sum(ci * co * layer.kernel ** 2 + ACT_MACS * co for ci, co, layer in rows)
    halo = sum(layer.kernel // 2 for _, _, layer in rows)
    strip = min(height, STRIP_ROWS + 2 * halo) * width
    widest = max(max(ci, co) for ci, co, _ in rows)
    return macs + PIXEL_MACS * channels, 8 * 8 * strip * widest


def checked(codec: str, cost_of: Callable[[Any, ImageInfo], Cost], settings: Any,
            info: ImageInfo) -> Cost:
    """cost_of(settings, info), a model the header makes impossible raising DecodeError."""
    try:
        return cost_of(settings, info)
    except ConfigError as exc:
        raise DecodeError(f"{codec}: {exc}") from None
