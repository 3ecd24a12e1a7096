"""SINCO's rate definition and network sizing.

SINCO (Gao et al. 2023) states the rate of an INR as 16 bits per parameter over the pixels,
bpp = 16 x parameters / pixels, as if each weight were stored in half precision with no
entropy coding. Our files quantise the weights (12 bits by default) and entropy code them, so
their real bpp (what the bench store records, header included) is lower for the same network;
a study reports both.
"""

from __future__ import annotations

from typing import Any

from ..api import get_codec
from ..errors import ConfigError

PAPER_BITS = 16


def paper_bpp(params: int, pixels: int, bits: int = PAPER_BITS) -> float:
    """SINCO's bpp: bits x parameters / pixels."""
    if pixels <= 0:
        raise ConfigError("pixels must be > 0")
    return bits * params / pixels


def num_params(codec: str, channels: int = 1, preset: str = "default", **settings: Any) -> int:
    """Parameters of a weight-INR codec's network (built through the codec registry)."""
    c = get_codec(codec)
    net = c.build(c.resolve(c.make_settings(preset, **settings)), channels)
    return sum(p.numel() for p in net.parameters())


def width_for_bpp(codec: str, bpp: float, height: int, width: int, channels: int = 1,
                  preset: str = "default", max_width: int = 512, **settings: Any) -> int:
    """The network width whose SINCO bpp is nearest `bpp` (the smaller on a tie), the other
    settings as given."""
    if bpp <= 0:
        raise ConfigError("bpp must be > 0")
    pixels = height * width
    best, best_err = 1, float("inf")
    for w in range(1, max_width + 1):
        got = paper_bpp(num_params(codec, channels, preset, **settings, width=w), pixels)
        if abs(got - bpp) < best_err:
            best, best_err = w, abs(got - bpp)
        if got > bpp:  # parameters grow with the width: nothing nearer beyond
            break
    return best
