"""The one image type every codec, metric and writer shares.

An `Image` is a float32 tensor [C, H, W] in [0, 1] plus what is needed to give the user back
exactly the kind of file they came with: bit depth, PIL-like mode and, for medical data, the
affine map from [0, 1] back to physical intensity units.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .errors import InputError

MODES = {"L": 1, "RGB": 3, "RGBA": 4}
BIT_DEPTHS = (8, 16)
# The largest image the package reads, encodes or decodes (files claiming more are refused
# before anything is allocated).
MAX_PIXELS = 1 << 28


@dataclass(frozen=True)
class Image:
    data: torch.Tensor  # float32 [C, H, W] in [0, 1]
    bit_depth: int = 8
    mode: str = "RGB"
    # value = offset + scale * (integer code): how integer codes map back to source units
    # (identity for ordinary images; NIfTI slices store their intensity shift here).
    offset: float = 0.0
    scale: float = 1.0
    meta: dict = field(default_factory=dict)  # free-form (source path, NIfTI affine, ...)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"unsupported image mode {self.mode!r} (expected one of L, RGB, RGBA)")
        if self.bit_depth not in BIT_DEPTHS:
            raise InputError(f"unsupported bit depth {self.bit_depth} (expected 8 or 16)")
        if self.data.ndim != 3 or self.data.shape[0] != MODES[self.mode]:
            raise InputError(
                f"image data must be [C,H,W] with C={MODES[self.mode]} for mode {self.mode}, "
                f"got shape {tuple(self.data.shape)}"
            )
        if self.data.shape[1] < 1 or self.data.shape[2] < 1:
            raise InputError(f"empty image ({self.data.shape[2]}x{self.data.shape[1]})")
        if self.data.shape[1] * self.data.shape[2] > MAX_PIXELS:
            raise InputError(f"image {self.data.shape[2]}x{self.data.shape[1]} is too large "
                             f"(at most {MAX_PIXELS} pixels)")

    @property
    def channels(self) -> int:
        return self.data.shape[0]

    @property
    def height(self) -> int:
        return self.data.shape[1]

    @property
    def width(self) -> int:
        return self.data.shape[2]

    @property
    def num_pixels(self) -> int:
        return self.height * self.width

    @property
    def max_code(self) -> int:
        return (1 << self.bit_depth) - 1

    def to_codes(self) -> np.ndarray:
        """Integer codes [H, W, C] (uint8 or uint16), rounding half to even like torch."""
        codes = torch.round(self.data.detach().double().clamp(0, 1) * self.max_code)
        dtype = np.uint8 if self.bit_depth == 8 else np.uint16
        return codes.permute(1, 2, 0).cpu().numpy().astype(dtype)

    def quantized(self) -> Image:
        """The image as its file would hold it: data snapped to the integer grid."""
        return self.with_data(from_codes(self.to_codes(), self.bit_depth))

    def with_data(self, data: torch.Tensor) -> Image:
        return replace(self, data=data.detach().float().cpu().clamp(0, 1))

    def to_values(self) -> np.ndarray:
        """Source-unit values [H, W, C] (float64): offset + scale * code."""
        return self.offset + self.scale * self.to_codes().astype(np.float64)


def from_codes(codes: np.ndarray, bit_depth: int) -> torch.Tensor:
    """[H, W, C] integer codes -> float32 [C, H, W] in [0, 1]."""
    if codes.ndim == 2:
        codes = codes[:, :, None]
    maxv = float((1 << bit_depth) - 1)
    return torch.from_numpy(codes.astype(np.float32) / maxv).permute(2, 0, 1).contiguous()


def mode_for_channels(c: int) -> str:
    for mode, n in MODES.items():
        if n == c:
            return mode
    raise InputError(f"unsupported channel count {c} (expected 1, 3 or 4)")
