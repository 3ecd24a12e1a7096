"""What every codec is: a settings dataclass, presets, and encode/decode over an `Image`.

A codec never touches files or the container: `api.py` packs what `encode` returns and hands
`decode` the validated pieces. Settings hold both the model description (the `decode_fields`,
stored in the file) and encoder-only knobs (steps, learning rate, ...), each with a working
default; presets override a few of them.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from ..coding.container import ImageInfo
from ..coding.limits import Cost
from ..errors import ConfigError, DecodeError
from ..image import Image
from ..losses import Loss


def timed_steps(run: Callable[[ProgressFn], object], skip: int = 1) -> float:
    """Median seconds between a training run's progress events, the first `skip` steps left
    out (they pay for one-off set-up)."""
    import statistics
    import time

    stamps: list[float] = []
    t0 = time.perf_counter()
    run(lambda p: stamps.append(time.perf_counter()))
    times = [b - a for a, b in zip([t0, *stamps], stamps, strict=False)][skip:]
    return statistics.median(times) if times else time.perf_counter() - t0


@dataclass
class Progress:
    phase: str  # e.g. "fit", "qat", "warmup"
    step: int  # 1-based within the phase
    total: int
    loss: float
    psnr: float | None = None  # of the current (unquantised) reconstruction


ProgressFn = Callable[[Progress], None]


@dataclass
class EncodeOutput:
    sections: dict[str, bytes]  # payload sections for the container
    config: dict[str, Any]  # model description stored in the file (decode_fields)
    reconstruction: torch.Tensor  # [C,H,W] in [0,1]: exactly what decode() will return
    log: dict[str, Any] = field(default_factory=dict)  # steps run, losses, ... for the result


class Codec(ABC):
    name: ClassVar[str]
    settings_cls: ClassVar[type]
    presets: ClassVar[dict[str, dict[str, Any]]] = {"default": {}}
    decode_fields: ClassVar[tuple[str, ...]] = ()
    # decode fields added later: written only when they differ from the default and read as
    # the default when absent, so files written before them decode (and encode) unchanged
    optional_decode_fields: ClassVar[tuple[str, ...]] = ()
    # generic option names (the CLI's --steps) -> this codec's own setting, where it differs
    setting_aliases: ClassVar[dict[str, str]] = {}

    # -- settings ------------------------------------------------------------------------------
    @classmethod
    def make_settings(cls, preset: str = "default", **overrides: Any) -> Any:
        """Preset values, then overrides; unknown names and bad values raise ConfigError."""
        if preset not in cls.presets:
            raise ConfigError(f"codec {cls.name!r} has no preset {preset!r} "
                              f"(choose from {', '.join(cls.presets)})")
        names = {f.name for f in dataclasses.fields(cls.settings_cls)}
        values = dict(cls.presets[preset])
        for key, value in overrides.items():
            if value is None:
                continue
            if key not in names:
                key = cls.setting_aliases.get(key, key)
            if key not in names:
                raise ConfigError(f"codec {cls.name!r} has no setting {key!r} "
                                  f"(settings: {', '.join(sorted(names))})")
            values[key] = value
        try:
            settings = cls.resolve(cls.settings_cls(**values))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{cls.name}: {exc}") from None
        cls.validate(settings)
        return settings

    @classmethod
    def resolve(cls, settings: Any) -> Any:
        """Settings with the defaults that depend on other settings filled in (e.g. a count
        left None meaning "a tenth of steps"), as a new object (override per codec).

        The one step that changes settings after they are built: `make_settings` and
        `settings_from_config` call it before `validate`, which only checks.
        """
        return settings

    @classmethod
    def validate(cls, settings: Any) -> None:
        """Raise ConfigError for out-of-range values; never changes `settings` (override
        per codec)."""
        return None

    @classmethod
    def settings_from_config(cls, config: dict[str, Any]) -> Any:
        """Rebuild settings from a file's config, refusing anything malformed (DecodeError
        naming the field): every one of the `decode_fields`, any of the
        `optional_decode_fields` (settings added later, whose defaults old files decode
        with), nothing else, each of its declared type (an int is an int, not a float or a
        bool; a tuple is a JSON list of such), then `validate`'s ranges."""
        if not isinstance(config, dict):
            raise DecodeError(f"corrupt {cls.name} config in header (not an object)")
        allowed = set(cls.decode_fields) | set(cls.optional_decode_fields)
        missing = [k for k in cls.decode_fields if k not in config]
        unknown = sorted(k for k in config if k not in allowed)
        if missing or unknown:
            what = (f"missing field(s) {', '.join(missing)}" if missing else
                    f"unknown field(s) {', '.join(_short(k) for k in unknown)}")
            raise DecodeError(f"corrupt {cls.name} config: {what}")
        hints = _field_types(cls.settings_cls)
        defaults = cls.settings_cls()
        values = {}
        for key in config:
            value = config[key]
            if not _is_of_type(value, hints[key]):
                raise DecodeError(f"corrupt {cls.name} config: field {key!r} must be "
                                  f"{_type_name(hints[key])}, got {_short(value)}")
            values[key] = tuple(value) if isinstance(value, list) else value
        try:
            settings = cls.resolve(dataclasses.replace(defaults, **values))
            cls.validate(settings)
        except (ConfigError, TypeError, ValueError) as exc:
            raise DecodeError(f"corrupt {cls.name} config: {exc}") from None
        return settings

    @classmethod
    def config_of(cls, settings: Any) -> dict[str, Any]:
        defaults = cls.settings_cls()
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(settings).items()
                if k in cls.decode_fields or (k in cls.optional_decode_fields and
                                              v != getattr(defaults, k))}

    def describe(self, settings: Any, info: ImageInfo,
                 sections: dict[str, bytes]) -> dict[str, Any]:
        """Facts about a file of this codec that its config and sections say without decoding
        (e.g. the decoder's MAC per pixel), for `inrcodec info`; none by default. Raises
        DecodeError for a malformed file."""
        return {}

    # -- time budgets --------------------------------------------------------------------------
    # An encode with a time budget (api.encode(budget=...), see budget.py) asks the codec how
    # long one training step takes on this image, how many steps its settings plan, and how
    # long quantisation and coding take after training (`budget`: the whole budget, for codecs
    # whose coding has optional parts worth their time only below some share of it).
    def seconds_per_step(self, image: Image, settings: Any, device: torch.device) -> float:
        raise ConfigError(f"codec {self.name!r} does not support time budgets")

    @classmethod
    def planned_steps(cls, settings: Any) -> int:
        raise ConfigError(f"codec {cls.name!r} does not support time budgets")

    def coding_seconds(self, image: Image, settings: Any, step_seconds: float,
                       budget: float | None = None) -> float:
        return 5 * step_seconds

    # -- coding --------------------------------------------------------------------------------
    @abstractmethod
    def encode(self, image: Image, loss: Loss, settings: Any, *, device: torch.device,
               seed: int = 0, progress: ProgressFn | None = None) -> EncodeOutput:
        """Overfit to `image`, quantise, entropy-code."""

    @abstractmethod
    def decode(self, settings: Any, sections: dict[str, bytes], info: ImageInfo, *,
               device: torch.device) -> torch.Tensor:
        """Sections (already CRC-checked) -> [C,H,W] float in [0,1]. Raises DecodeError."""

    def settings_from_sections(self, settings: Any, sections: dict[str, bytes]) -> Any:
        """The settings completed from a model descriptor kept in a section rather than in the
        header's config (coolchic's one-byte descriptor in section h), read and checked before
        `decode_cost`: only that small, fixed-size descriptor, nothing else of the payload.
        Unchanged by default. Raises DecodeError naming the section or field."""
        return settings

    @abstractmethod
    def decode_cost(self, settings: Any, info: ImageInfo) -> Cost:
        """What decoding a file with these settings (as `settings_from_sections` completed
        them) and this image costs (parameters, MACs, peak memory), from the header alone:
        nothing of the model is allocated."""

    @abstractmethod
    def section_bounds(self, settings: Any, info: ImageInfo) -> dict[str, tuple[int, int]]:
        """The sections a file of these settings holds, each with its (min, max) length in
        bytes; `decode` checks them first (`coding.limits.check_sections`), before it reads
        any of them."""


MAX_LIST = 64  # elements of a list-valued config field (codecs' `validate` bound them further)


def _field_types(settings_cls: type) -> dict[str, Any]:
    return typing.get_type_hints(settings_cls)


def _is_of_type(value: Any, hint: Any) -> bool:
    """Is a JSON value of a settings field's declared type (int, float, str, bool, tuples of
    those, optional ones)?"""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is_of_type(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value))
    if hint is str:
        return isinstance(value, str) and len(value) <= 4096
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) > MAX_LIST:
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_is_of_type(v, args[0]) for v in value)
        return len(value) == len(args) and all(_is_of_type(v, a)
                                               for v, a in zip(value, args, strict=True))
    return False


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of at most {MAX_LIST} {_type_name(args[0])} values"
        return f"a list of {len(args)} values"
    names = {int: "an integer", float: "a finite number", str: "a string", bool: "true or false",
             type(None): "null"}
    return names.get(hint, str(hint))


def _short(v: object, n: int = 40) -> str:
    r = repr(v)
    return r if len(r) <= n else r[:n] + "..."
