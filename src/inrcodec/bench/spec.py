"""What a benchmark run is made of: image sets, INR codecs with rate points, losses, baselines.

A spec comes from a TOML file, a built-in preset (`presets.py`) or command-line flags. TOML:

    name = "my-study"
    losses = ["mse", "l1", "0.8*l1+0.2*ssim"]   # default for every codec
    seeds = [0]
    device = "auto"                             # auto | cpu | cuda
    lpips = true

    metrics = ["dice"]                          # task metrics from plugins (optional)

    [[images]]
    protocol = "kodak6-half"      # a protocol of bench/protocols.py (needs the Kodak folder)
    # files = ["kodim01", "kodim15"]  # optional: only these of the protocol's images
    # path = "some/folder"        # or a folder / a file; files = ["a.png"] picks a subset
    crop = [0, 0, 128, 128]       # optional box (x0, y0, x1, y1) taken after `reduce`
    # reduce = 2                  # optional Pillow Image.reduce factor
    # limit = 3                   # optional: the first N images only

    [[images]]                    # slices of a NIfTI volume, with their labels
    path = "case/fla.nii.gz"
    labels = "case/seg.nii.gz"    # optional; task metrics and loss terms such as sinco use it
    slices = "largest:10"         # or [70, 71]; "largest:N" = N largest labelled areas

    [[codecs]]
    name = "siren"
    label = "COIN"                # optional name of its curves in the report
    preset = "fast"
    settings = { steps = 300 }    # applied to every rate point
    rates = [ { layers = 5, width = 20 }, { layers = 10, width = 28 } ]
    # losses = ["mse"]            # overrides the top-level list for this codec
    # A rate point or `settings` may also carry api.encode's options: budget = 600 (seconds
    # for the whole encode), target_bpp = 0.5 or target_psnr = 32 (searching the rate knob,
    # with tolerance = 0.05); a budget and a target do not combine.

    [[baselines]]
    name = "jpeg/420"             # jpeg/444 jpeg/420 webp avif jpegxl jpeg2000
    qualities = [10, 30, 50, 70]  # optional; default sweep otherwise
    # target_bpp = [0.1, 0.5]     # or: rate-matched, best quality with a file <= each rate

The Kodak folder is `kodak = "..."` in the spec, else $INRCODEC_KODAK, else the first of
./data/kodak and ../shared/data/kodak that exists.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..io.nifti import is_nifti
from .images import IMAGE_SUFFIXES, ImageRef, volume_refs
from .protocols import PROTOCOLS, kodak_dir


@dataclass
class ImageSet:
    protocol: str | None = None
    path: str | None = None
    files: list[str] | None = None
    reduce: int = 1
    crop: list[int] | None = None
    limit: int | None = None
    labels: str | None = None  # NIfTI label volume going with a NIfTI `path`
    slices: list[int] | str | None = None  # NIfTI slices: indices or "largest:N"


@dataclass
class CodecRun:
    name: str
    preset: str = "default"
    rates: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    settings: dict[str, Any] = field(default_factory=dict)
    losses: list[str] | None = None
    label: str | None = None  # the curves' name in the report (default: codec[:preset])


@dataclass
class BaselineRun:
    name: str
    qualities: list[int] | None = None
    target_bpp: list[float] | None = None  # rate-matched points instead of a quality sweep


@dataclass
class Spec:
    name: str = "bench"
    images: list[ImageSet] = field(default_factory=list)
    codecs: list[CodecRun] = field(default_factory=list)
    baselines: list[BaselineRun] = field(default_factory=list)
    losses: list[str] = field(default_factory=lambda: ["mse"])
    seeds: list[int] = field(default_factory=lambda: [0])
    device: str = "auto"
    lpips: bool = True
    metrics: list[str] = field(default_factory=list)  # task metrics (plugins register them)
    kodak: str | None = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def _known(d: dict[str, Any], cls: type, where: str) -> dict[str, Any]:
    names = set(cls.__dataclass_fields__)
    unknown = set(d) - names
    _require(not unknown, f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
                          f"(allowed: {', '.join(sorted(names))})")
    return d


def spec_from_dict(d: dict[str, Any]) -> Spec:
    """Validate the shape of a parsed TOML/dict spec (names are checked when jobs are built)."""
    _require(isinstance(d, dict), "spec must be a table")
    d = dict(_known(d, Spec, "spec"))
    try:
        images = [ImageSet(**_known(x, ImageSet, "[[images]]")) for x in d.pop("images", [])]
        codecs = [CodecRun(**_known(x, CodecRun, "[[codecs]]")) for x in d.pop("codecs", [])]
        baselines = [BaselineRun(**_known(x, BaselineRun, "[[baselines]]"))
                     for x in d.pop("baselines", [])]
        spec = Spec(images=images, codecs=codecs, baselines=baselines, **d)
    except TypeError as exc:
        raise ConfigError(f"bad spec: {exc}") from None
    validate(spec)
    return spec


def load_spec(path: str | os.PathLike) -> Spec:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such spec file")
    try:
        data = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    data.setdefault("name", p.stem)
    return spec_from_dict(data)


def validate(spec: Spec) -> None:
    _require(bool(spec.images), "spec names no images ([[images]] or --images)")
    _require(bool(spec.codecs or spec.baselines), "spec names no codecs and no baselines")
    _require(all(isinstance(s, int) for s in spec.seeds) and bool(spec.seeds),
             "seeds must be a non-empty list of integers")
    _require(spec.device == "auto" or spec.device == "cpu" or spec.device.startswith("cuda"),
             f"unknown device {spec.device!r} (auto, cpu or cuda)")
    for s in spec.images:
        _require((s.protocol is None) != (s.path is None),
                 "each [[images]] entry needs exactly one of protocol or path")
        _require(s.protocol is None or s.protocol in PROTOCOLS,
                 f"unknown protocol {s.protocol!r} (choose from {', '.join(PROTOCOLS)})")
        _require(isinstance(s.reduce, int) and 1 <= s.reduce <= 16, "reduce must be 1..16")
        _require(s.crop is None or (len(s.crop) == 4 and s.crop[0] < s.crop[2]
                                    and s.crop[1] < s.crop[3] and min(s.crop) >= 0),
                 f"crop must be [x0, y0, x1, y1] with x0 < x1, y0 < y1, got {s.crop}")
    for c in spec.codecs:
        _require(bool(c.rates) and all(isinstance(r, dict) for r in c.rates),
                 f"codec {c.name}: rates must be a non-empty list of setting tables")
    for b in spec.baselines:
        _require(b.qualities is None or all(isinstance(q, int) and 0 <= q <= 100
                                            for q in b.qualities),
                 f"baseline {b.name}: qualities must be integers 0..100")
        _require(b.target_bpp is None or (b.qualities is None and bool(b.target_bpp) and all(
            isinstance(t, int | float) and 0 < t < 64 for t in b.target_bpp)),
                 f"baseline {b.name}: target_bpp must be rates in (0, 64) bpp, and not given "
                 "with qualities")
    _require(all(isinstance(m, str) for m in spec.metrics), "metrics must be a list of names")


def resolve_images(spec: Spec) -> list[ImageRef]:
    refs: list[ImageRef] = []
    for s in spec.images:
        reduce = s.reduce
        crop = tuple(s.crop) if s.crop else None
        if s.protocol is not None:
            p = PROTOCOLS[s.protocol]
            folder = kodak_dir(spec.kodak)
            names = p.names
            if s.files:
                chosen = [Path(f).stem for f in s.files]
                unknown = [n for n in chosen if n not in p.names]
                _require(not unknown, f"protocol {s.protocol} has no image(s) "
                                      f"{', '.join(unknown)} (it has {', '.join(p.names)})")
                names = tuple(n for n in p.names if n in chosen)
            files = [folder / f"{n}.png" for n in names]
            reduce = reduce * p.reduce
            if crop is None:
                crop = p.crop
        else:
            path = Path(s.path)
            if is_nifti(path):
                if not path.is_file():
                    raise ConfigError(f"{path}: no such NIfTI volume")
                if s.labels and not Path(s.labels).is_file():
                    raise ConfigError(f"{s.labels}: no such label volume")
                refs += volume_refs(path, s.labels, s.slices, s.limit)
                continue
            _require(s.labels is None and s.slices is None,
                     f"{path}: labels and slices apply to NIfTI volumes only")
            if path.is_dir():
                files = [path / f for f in s.files] if s.files else sorted(
                    f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            elif path.is_file():
                files = [path]
            else:
                raise ConfigError(f"{path}: no such image file or folder")
        if s.limit is not None:
            files = files[: s.limit]
        for f in files:
            if not Path(f).is_file():
                raise ConfigError(f"{f}: image not found")
            suffix = (f"@1/{reduce}" if reduce > 1 else "") + (
                f"[{crop[0]},{crop[1]},{crop[2]},{crop[3]}]" if crop else "")
            refs.append(ImageRef(str(Path(f).resolve()), Path(f).stem + suffix, reduce, crop))
    _require(bool(refs), "the image sets matched no files")
    names = [r.name for r in refs]
    dup = {n for n in names if names.count(n) > 1}
    _require(not dup, f"two images share the name(s) {', '.join(sorted(dup))}")
    return refs
