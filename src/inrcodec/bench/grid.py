"""Spec -> the flat list of jobs, each with a stable id.

A job is one image coded at one rate point by one codec (with one loss and seed for INR
codecs). Its id hashes every setting that can change the result, including the SHA-256 of the
source image file, so the same job gets the same id in any spec, on any machine, wherever the
data lives; a rerun finds it in the database and skips it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .baselines import get_baseline
from .spec import ImageRef, Spec, resolve_images

# Bump when the job function changes in a way that makes old results incomparable.
JOB_SCHEMA = 1


@dataclass(frozen=True)
class Job:
    kind: str  # "inr" | "baseline"
    image: ImageRef
    image_sha: str
    codec: str
    variant: str  # codec preset (INR) or baseline variant ("444", "420" or "")
    loss: str  # "" for baselines
    rate: tuple[tuple[str, Any], ...]  # settings picking the rate point (baselines: quality)
    settings: tuple[tuple[str, Any], ...]  # other codec setting overrides
    seed: int
    device: str
    lpips: bool

    @property
    def job_id(self) -> str:
        return job_id(self)

    @property
    def curve(self) -> str:
        """Label of the RD curve the job belongs to (rate points vary along a curve)."""
        if self.kind == "baseline":
            return f"{self.codec}/{self.variant}" if self.variant else self.codec
        return f"{self.architecture}|{self.loss}"

    @property
    def architecture(self) -> str:
        if self.kind == "baseline":
            return self.curve
        return self.codec if self.variant == "default" else f"{self.codec}:{self.variant}"

    def rate_dict(self) -> dict[str, Any]:
        return dict(self.rate)

    def settings_dict(self) -> dict[str, Any]:
        return dict(self.settings)

    def describe(self) -> dict[str, Any]:
        """Every setting, JSON-serialisable (what the id hashes, minus nothing)."""
        d = asdict(self)
        d["rate"] = dict(self.rate)
        d["settings"] = dict(self.settings)
        d["image"]["crop"] = list(self.image.crop) if self.image.crop else None
        return d


def _canon(d: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Sorted items with lists made hashable (tuples), so equal settings hash equally."""
    def fix(v: Any) -> Any:
        return tuple(fix(x) for x in v) if isinstance(v, list | tuple) else v
    return tuple(sorted((k, fix(v)) for k, v in d.items()))


def job_id(job: Job) -> str:
    d = job.describe()
    # the image is identified by its content and transform, not by where it is stored
    d["image"] = {"sha": job.image_sha, "reduce": job.image.reduce, "crop": d["image"]["crop"]}
    d.pop("image_sha")
    d["schema"] = JOB_SCHEMA
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@cache
def file_sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _check_codec(name: str, preset: str, overrides: dict[str, Any]) -> None:
    """Refuse unknown codecs / presets / settings now, not an hour into the run."""
    from ..codecs.registry import get_codec

    try:
        codec = get_codec(name)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; it may not be implemented yet: drop it from the spec or "
                          f"pick others with --codec") from None
    codec.make_settings(preset, **overrides)


def _check_loss(loss: str) -> None:
    from ..losses import parse_loss

    parse_loss(loss)


def expand(spec: Spec) -> list[Job]:
    """All jobs of a spec (baselines first: they are quick and give early curves)."""
    images = resolve_images(spec)
    shas = {im.path: file_sha256(im.path) for im in images}
    jobs: list[Job] = []
    for b in spec.baselines:
        name, _, variant = b.name.partition("/")
        base = get_baseline(name, variant)
        for im in images:
            for q in b.qualities or base.qualities:
                jobs.append(Job("baseline", im, shas[im.path], base.name, base.variant, "",
                                (("quality", int(q)),), (), 0, "cpu", spec.lpips))
    for c in spec.codecs:
        losses = c.losses or spec.losses
        for loss in losses:
            _check_loss(loss)
        for rate in c.rates:
            overlap = set(rate) & set(c.settings)
            if overlap:
                raise ConfigError(f"codec {c.name}: {', '.join(sorted(overlap))} set both as "
                                  f"rate and as setting")
            _check_codec(c.name, c.preset, {**c.settings, **rate})
        for rate in c.rates:
            for loss in losses:
                for seed in spec.seeds:
                    for im in images:
                        jobs.append(Job("inr", im, shas[im.path], c.name, c.preset, loss,
                                        _canon(rate), _canon(c.settings), seed, spec.device,
                                        spec.lpips))
    seen: set[str] = set()
    unique = []
    for j in jobs:  # a spec may list the same point twice; run it once
        if j.job_id not in seen:
            seen.add(j.job_id)
            unique.append(j)
    return unique
