"""Spec -> the flat list of jobs, each with a stable id.

A job is one image coded at one rate point by one codec (with one loss and seed for INR
codecs). Its id hashes every setting that can change the result, including the SHA-256 of the
source image file, so the same job gets the same id in any spec, on any machine, wherever the
data lives; a rerun finds it in the database and skips it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..baselines import get_baseline
from ..errors import ConfigError
from .images import ImageRef, source_sha
from .spec import Spec, resolve_images

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
    metrics: tuple[str, ...] = ()  # task metrics to measure
    label: str = ""  # the curve's name when the spec gives one

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
        if self.label:
            return self.label
        return self.codec if self.variant == "default" else f"{self.codec}:{self.variant}"

    def rate_dict(self) -> dict[str, Any]:
        return dict(self.rate)

    def settings_dict(self) -> dict[str, Any]:
        return dict(self.settings)

    def describe(self) -> dict[str, Any]:
        """Every setting, JSON-serialisable (what the id hashes). Fields added to the job
        after the first schema are left out while they hold their defaults, so that the jobs
        of older specs keep their ids."""
        d = asdict(self)
        d["rate"] = dict(self.rate)
        d["settings"] = dict(self.settings)
        d["image"]["crop"] = list(self.image.crop) if self.image.crop else None
        for key in ("slice", "labels"):
            if d["image"][key] is None:
                del d["image"][key]
        d["metrics"] = list(self.metrics)
        for key in ("metrics", "label"):
            if not d[key]:
                del d[key]
        return d


def _canon(d: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Sorted items with lists made hashable (tuples), so equal settings hash equally."""
    def fix(v: Any) -> Any:
        return tuple(fix(x) for x in v) if isinstance(v, list | tuple) else v
    return tuple(sorted((k, fix(v)) for k, v in d.items()))


def job_id(job: Job) -> str:
    return id_of_description(job.describe())


def encode_id(job: Job) -> str:
    """What the job computes, whatever curve it is drawn in: its id without the label. Two
    jobs with one encode id are the same encode (the label only names the curve)."""
    return job_id(replace(job, label=""))


def id_of_description(description: dict[str, Any]) -> str:
    """The id of a job from its `describe()` (also as stored, JSON, in a result row)."""
    d = dict(description)
    # the image is identified by its content and transform, not by where it is stored
    image = d["image"]
    d["image"] = {"sha": d.pop("image_sha"), "reduce": image["reduce"], "crop": image["crop"]}
    if "slice" in image:
        d["image"]["slice"] = image["slice"]
    d["schema"] = JOB_SCHEMA
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def encode_id_of_description(description: dict[str, Any]) -> str:
    """`encode_id` of a stored row's job (its `job_json`)."""
    return id_of_description({k: v for k, v in description.items() if k != "label"})


# options of `api.encode` that a rate point or a codec's settings may carry beside the codec's
# own settings: a time budget in seconds, a target rate or quality (targeting.py)
ENCODE_OPTIONS = ("budget", "target_bpp", "target_psnr", "tolerance")


def _check_codec(name: str, preset: str, overrides: dict[str, Any]) -> None:
    """Refuse unknown codecs / presets / settings now, not an hour into the run. The encode
    options (`ENCODE_OPTIONS`) go to `api.encode` beside the settings: a time budget needs a
    codec that plans its steps, a target one with a rate knob, and the two do not combine."""
    from ..codecs.registry import get_codec
    from ..targeting import knob_for

    try:
        codec = get_codec(name)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; it may not be implemented yet: drop it from the spec or "
                          f"pick others with --codec") from None
    options = {k: v for k, v in overrides.items() if k in ENCODE_OPTIONS}
    settings = codec.make_settings(preset, **{k: v for k, v in overrides.items()
                                              if k not in ENCODE_OPTIONS})
    for key, value in options.items():
        if not (isinstance(value, int | float) and not isinstance(value, bool) and value > 0
                and math.isfinite(value)):
            raise ConfigError(f"codec {name}: {key} must be a positive number, got {value!r}")
    targets = {"target_bpp", "target_psnr"} & set(options)
    if len(targets) > 1:
        raise ConfigError(f"codec {name}: target_bpp and target_psnr cannot be combined")
    if "budget" in options:
        if targets:
            raise ConfigError(f"codec {name}: a target (bpp or PSNR) and a time budget "
                              f"cannot be combined")
        codec.planned_steps(settings)  # ConfigError where the codec has no time budgets
    if targets:
        knob_for(name, settings)  # ConfigError where the codec has no rate knob
    elif "tolerance" in options:
        raise ConfigError(f"codec {name}: tolerance needs target_bpp or target_psnr")


def _check_loss(loss: str) -> None:
    from ..losses import parse_loss

    parse_loss(loss)


def _check_metric(name: str) -> None:
    from ..metrics import task_metric

    task_metric(name)


def expand(spec: Spec) -> list[Job]:
    """All jobs of a spec (baselines first: they are quick and give early curves)."""
    images = resolve_images(spec)
    shas = {im: source_sha(im) for im in images}
    metrics = tuple(spec.metrics)
    for m in metrics:
        _check_metric(m)
    jobs: list[Job] = []
    for b in spec.baselines:
        name, _, variant = b.name.partition("/")
        base = get_baseline(name, variant)
        rates = ([(("target_bpp", float(t)),) for t in b.target_bpp] if b.target_bpp else
                 [(("quality", int(q)),) for q in b.qualities or base.qualities])
        for im in images:
            for rate in rates:
                jobs.append(Job("baseline", im, shas[im], base.name, base.variant, "",
                                rate, (), 0, "cpu", spec.lpips, metrics))
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
                        jobs.append(Job("inr", im, shas[im], c.name, c.preset, loss,
                                        _canon(rate), _canon(c.settings), seed, spec.device,
                                        spec.lpips, metrics, c.label or ""))
    seen: set[str] = set()
    unique = []
    for j in jobs:  # a spec may list the same point twice; run it once
        if j.job_id not in seen:
            seen.add(j.job_id)
            unique.append(j)
    return unique
