"""The named benchmark image protocols, defined once.

    kodak24       the 24 Kodak images, full size (768x512 / 512x768)
    kodak6        kodim01, 03, 08, 15, 20, 23, full size
    kodak6-half   the same six reduced 2x with Pillow's Image.reduce(2) (box filter)
    kodak24-half  all 24 reduced 2x the same way (NIF's published kodak_x2 anchor)
    speed-s1      kodim01 cropped to (0, 0, 256, 256)

The Kodak folder: an explicit argument, else $INRCODEC_KODAK, else the first of ./data/kodak
and ../shared/data/kodak that exists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..image import Image

KODAK6 = ("kodim01", "kodim03", "kodim08", "kodim15", "kodim20", "kodim23")
KODAK24 = tuple(f"kodim{i:02d}" for i in range(1, 25))


@dataclass(frozen=True)
class Protocol:
    names: tuple[str, ...]
    reduce: int = 1
    crop: tuple[int, int, int, int] | None = None  # (x0, y0, x1, y1) after the reduction


PROTOCOLS: dict[str, Protocol] = {
    "kodak24": Protocol(KODAK24),
    "kodak6": Protocol(KODAK6),
    "kodak6-half": Protocol(KODAK6, 2),
    "kodak24-half": Protocol(KODAK24, 2),
    "speed-s1": Protocol(("kodim01",), 1, (0, 0, 256, 256)),
}


def kodak_dir(explicit: str | os.PathLike | None = None) -> Path:
    candidates = [explicit, os.environ.get("INRCODEC_KODAK"), "data/kodak",
                  "../shared/data/kodak"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c).resolve()
    raise ConfigError("Kodak images not found: set `kodak = \"DIR\"` in the spec, --kodak DIR or "
                      "INRCODEC_KODAK=DIR (a folder holding kodim01.png ... kodim24.png)")


def protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {name!r} (choose from {', '.join(PROTOCOLS)})")
    return PROTOCOLS[name]


def protocol_images(name: str, names: tuple[str, ...] | None = None,
                    kodak: str | os.PathLike | None = None) -> dict[str, Image]:
    """The protocol's images by Kodak name (optionally only `names`), as the benchmark codes
    them: for analyses outside the grid (speed, fit trajectories)."""
    from .images import ImageRef, load_image

    p = protocol(name)
    folder = kodak_dir(kodak)
    out = {}
    for n in p.names:
        if names is None or n in names:
            ref = ImageRef(str(folder / f"{n}.png"), n, p.reduce, p.crop)
            out[n] = load_image(ref)[0]
    return out
