"""What a decode may cost, computed from a file's header before anything is allocated.

Every codec reports the `Cost` of decoding a file from its settings and image size alone
(`Codec.decode_cost`): the numbers it will read (network weights and latents), the
multiply-accumulates of rendering the whole image, and its peak memory. `api.decode` checks
that cost against `DecodeLimits` before it decodes a single section, so a hostile file (a
config asking for a huge network, a huge image, a long latent wavefront) is refused with a
DecodeError naming what it asked for, instead of exhausting memory or time.

Work that is not a multiply-accumulate is counted in MAC-equivalents, so that decode time
follows from `macs` alone (`benchmarks/decode_limits.py` measures the rate): the per-pixel work
outside the network (input features, clamping, rounding to integer codes) and each wave of
Cool-chic's latent decoder (one range-coder call and a small ARM evaluation, whatever the
number of latents in it).

The default limits accept every preset of every codec on images up to 768x512 (NIF's 680
preset, the costliest, needs about 1e11 MAC there); files from a trusted source can be
decoded with raised limits (`DecodeLimits(max_macs=...)`, `DecodeLimits.unlimited()`; on the
command line `--max-macs`, `--max-memory`, `--trust`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import DecodeError

# MAC-equivalents of the work that is not a network's multiply-accumulates, each about its
# time at one torch thread's 5-7 GMAC/s of float64 matrix products (benchmarks/decode_limits.py)
PIXEL_MACS = 512  # per output value (pixel x channel): copies, clamp, float64 -> codes
FEATURE_MACS = 32  # per sine or cosine of an input feature (Fourier encodings)
ACT_MACS = 48  # per activation of a hidden unit (bias add, sine or ReLU: memory-bound passes)
LATENT_MACS = 12_000  # per latent decoded (context gather, fixed-point ARM passes, range coder;
# the gathers miss the cache once the padded buffer of every grid outgrows it)
WAVE_MACS = 100_000  # per wave of the latent decoder (a range-coder call, an ARM call)
TABLE_MACS = 320  # per entry of an entropy-coding table built at decode time

DEFAULT_MAX_MACS = 1.5e11
DEFAULT_MAX_PARAMS = 1 << 24
DEFAULT_MAX_PEAK_BYTES = 3 << 30
DEFAULT_MAX_FILE_BYTES = 1 << 26


@dataclass(frozen=True)
class Cost:
    """The cost of decoding one file, from its header alone."""

    params: int  # numbers read from the file: network weights and latents
    macs: int  # multiply-accumulates for the whole image (other work as MAC-equivalents)
    peak_bytes: int  # estimated peak memory of the decode (the file itself included)
    detail: str = ""  # what drives the cost, for messages (e.g. "hidden=[680, ...], 768x512")

    def to_dict(self) -> dict[str, int]:
        return {"params": self.params, "macs": self.macs, "peak_bytes": self.peak_bytes}


def _fmt(x: float) -> str:
    return f"{x:.3g}" if x < 1e6 else f"{x:.2e}"


def _fmt_bytes(x: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if x >= size:
            return f"{x / size:.3g} {unit}"
    return f"{int(x)} bytes"


@dataclass(frozen=True)
class DecodeLimits:
    """Upper bounds on what decoding one file may cost (see the module docstring).

    `math.inf` switches a bound off; `DecodeLimits.unlimited()` switches them all off (for
    files from a trusted source only)."""

    max_macs: float = DEFAULT_MAX_MACS
    max_params: float = DEFAULT_MAX_PARAMS
    max_peak_bytes: float = DEFAULT_MAX_PEAK_BYTES
    max_file_bytes: float = DEFAULT_MAX_FILE_BYTES

    def __post_init__(self) -> None:
        for name in ("max_macs", "max_params", "max_peak_bytes", "max_file_bytes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v) or v <= 0:
                raise ValueError(f"DecodeLimits.{name} must be a number > 0, got {v!r}")

    @classmethod
    def unlimited(cls) -> DecodeLimits:
        return cls(math.inf, math.inf, math.inf, math.inf)

    def check_file_size(self, n: int) -> None:
        if n > self.max_file_bytes:
            raise DecodeError(f"file is {_fmt_bytes(n)}, over the limit of "
                              f"{_fmt_bytes(self.max_file_bytes)} (raise max_file_bytes, or "
                              "--trust, for a trusted file)")

    def check(self, cost: Cost, codec: str) -> None:
        """DecodeError naming the quantity over its limit and the header fields behind it."""
        what = f" ({cost.detail})" if cost.detail else ""
        if cost.params > self.max_params:
            raise DecodeError(f"{codec}: the file's model has {_fmt(cost.params)} parameters"
                              f"{what}, over the limit of {_fmt(self.max_params)} (raise "
                              "max_params, or --trust, for a trusted file)")
        if cost.macs > self.max_macs:
            raise DecodeError(f"{codec}: decoding needs {_fmt(cost.macs)} MAC{what}, over the "
                              f"limit of {_fmt(self.max_macs)} (raise max_macs / --max-macs, "
                              "or --trust, for a trusted file)")
        if cost.peak_bytes > self.max_peak_bytes:
            raise DecodeError(f"{codec}: decoding needs about {_fmt_bytes(cost.peak_bytes)} of "
                              f"memory{what}, over the limit of "
                              f"{_fmt_bytes(self.max_peak_bytes)} (raise max_peak_bytes / "
                              "--max-memory, or --trust, for a trusted file)")


def check_sections(codec: str, sections: dict[str, bytes],
                   bounds: dict[str, tuple[int, int]]) -> None:
    """The sections a codec reads, each within (min, max) bytes: a missing, unknown or
    absurdly long section is a DecodeError naming it."""
    missing = sorted(set(bounds) - set(sections))
    unknown = sorted(set(sections) - set(bounds))
    if missing:
        raise DecodeError(f"{codec}: missing section(s) {', '.join(map(repr, missing))}")
    if unknown:
        raise DecodeError(f"{codec}: unknown section(s) {', '.join(map(repr, unknown))} "
                          f"(a {codec} file has {', '.join(map(repr, sorted(bounds)))})")
    for name, (lo, hi) in bounds.items():
        n = len(sections[name])
        if not lo <= n <= hi:
            want = f"{lo}" if lo == hi else f"{lo}..{hi}"
            raise DecodeError(f"{codec}: section {name!r} is {n} bytes, expected {want} for "
                              "the model in the header")
