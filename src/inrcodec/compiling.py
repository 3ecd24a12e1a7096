"""torch.compile for training steps: when it pays, and eager mode when it cannot run.

Compiling a training step makes each step faster but costs seconds before the first one (tens
of seconds the first time a graph is seen, before inductor's on-disk cache holds it), so a
codec compiles only runs long enough to amortise that: `wants_compile` decides from the
pixel-steps of the run unless the user said yes or no. `compiled` wraps a function so that any
compiler failure (no C++ compiler, an unsupported backend, a graph break under `fullgraph`)
warns once and leaves training in eager mode: the two differ only in floating-point rounding.

Inductor keeps what it compiles on disk and reuses it for the same graph (a warm compilation of
a 256x256 `coolchic` step takes ~5 s, a cold one ~60 s). Its default place is under the
system's temporary folder, which many systems empty at boot; `compiled` points it at the
user's cache folder instead (`persistent_cache_dir`) unless TORCHINDUCTOR_CACHE_DIR was set
before inrcodec was imported: torch itself sets that variable to its default the first time
anything asks inductor for its cache (an eager SOAP step does), so a variable found set later is
not the user's choice (`use_persistent_cache`, which encodes call before their first step).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def wants_compile(setting: bool | None, pixels: int, steps: int, min_pixel_steps: int) -> bool:
    """The `compile` setting: True/False as given; None (auto) when pixels x steps reaches
    `min_pixel_steps`."""
    if setting is not None:
        return bool(setting)
    return pixels * steps >= min_pixel_steps


def persistent_cache_dir() -> Path | None:
    """$XDG_CACHE_HOME/inrcodec/torchinductor (default ~/.cache/...); None without a home."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no home directory to be found
            return None
    return Path(base) / "inrcodec" / "torchinductor"


# the user's choice, read before torch can set the variable to its own default
_USER_CACHE_DIR = os.environ.get("TORCHINDUCTOR_CACHE_DIR")


def use_persistent_cache() -> None:
    """Point inductor's on-disk cache at `persistent_cache_dir`, unless the user chose a place
    (TORCHINDUCTOR_CACHE_DIR set before inrcodec was imported) or no such folder can exist."""
    if _USER_CACHE_DIR is not None:
        return
    place = persistent_cache_dir()
    if place is None:
        return
    try:
        place.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: inductor's own default place
        return
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(place)


def compiled(fn: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """`fn` through torch.compile(fn, dynamic=False, **options), with eager `fn` from the
    first failure on; inductor's on-disk cache in `persistent_cache_dir` unless the user
    chose another (`use_persistent_cache`)."""
    use_persistent_cache()
    current: list[Callable[..., Any]] = [torch.compile(fn, dynamic=False, **options)]

    def call(*args: Any) -> Any:
        try:
            return current[0](*args)
        except Exception as exc:  # any compiler failure: fall back to eager and go on
            if current[0] is fn:
                raise
            warnings.warn(f"torch.compile failed ({type(exc).__name__}: {exc}); training in "
                          "eager mode", RuntimeWarning, stacklevel=2)
            current[0] = fn
            return fn(*args)

    return call


def bf16_autocast(device_type: str, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast when `enabled`, else no context at all. Not `torch.autocast(...,
    enabled=False)`: traced by dynamo, even a disabled autocast puts its enter/exit calls in
    the graph, and AOTAutograd's on-disk cache then refuses the graph, so that every warm
    compilation traces the joint graph again (~10 s of a 256x256 `coolchic` step)."""
    if enabled:
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
