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
user's cache folder instead (`persistent_cache_dir`) unless TORCHINDUCTOR_CACHE_DIR is set.
A compiled function given a `graph_key` records the key there once it has run, so that a
later run of the same graph knows the cache holds it (`is_warm`) and can compile from a lower
threshold: a warm compilation is repaid by far fewer steps than a cold one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def wants_compile(setting: bool | None, pixels: int, steps: int, min_pixel_steps: int, *,
                  key: str | None = None, warm_min_pixel_steps: int | None = None) -> bool:
    """The `compile` setting: True/False as given; None (auto) when pixels x steps reaches
    `min_pixel_steps`, or `warm_min_pixel_steps` where the graph `key` is known to be in
    inductor's cache (`is_warm`)."""
    if setting is not None:
        return bool(setting)
    if key is not None and warm_min_pixel_steps is not None and is_warm(key):
        return pixels * steps >= warm_min_pixel_steps
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


def cache_dir() -> Path | None:
    """Inductor's cache folder for our compilations: TORCHINDUCTOR_CACHE_DIR, set to
    `persistent_cache_dir` first if the user has not chosen one."""
    place = persistent_cache_dir()
    if place is not None:
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(place))
    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    return Path(chosen) if chosen else None


WARM_FILE = "inrcodec-warm-graphs.txt"  # in cache_dir(): one graph key a line


def graph_key(*parts: Any, sources: Path | None = None) -> str:
    """A name for one compiled graph: `parts` (codec, architecture, image size...), torch's
    version and the Python sources below `sources` that the graph is traced from (a changed
    source may change the graph, so it gets a new key)."""
    digest = hashlib.sha256(repr((parts, torch.__version__)).encode())
    if sources is not None:
        for f in sorted(sources.rglob("*.py")):
            digest.update(f.read_bytes())
    return digest.hexdigest()[:32]


def is_warm(key: str) -> bool:
    """Whether a compiled function with this key has run with the current cache folder."""
    folder = cache_dir()
    try:
        return folder is not None and key in (folder / WARM_FILE).read_text().split()
    except OSError:
        return False


def mark_warm(key: str) -> None:
    folder = cache_dir()
    if folder is None or is_warm(key):
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / WARM_FILE, "a") as f:  # one short append: atomic between processes
            f.write(key + "\n")
    except OSError:
        pass  # a read-only cache folder: only the next run's threshold is affected


def compiled(fn: Callable[..., Any], *, graph_key: str | None = None,
             **options: Any) -> Callable[..., Any]:
    """`fn` through torch.compile(fn, dynamic=False, **options), with eager `fn` from the
    first failure on; inductor's cache in `cache_dir`, and `graph_key` marked warm there at
    the second compiled call (a training step's backward graph is compiled at its first
    backward, which comes between the two)."""
    cache_dir()
    current: list[Callable[..., Any]] = [torch.compile(fn, dynamic=False, **options)]
    pending: list[Any] = [graph_key, 0]

    def call(*args: Any) -> Any:
        try:
            out = current[0](*args)
        except Exception as exc:  # any compiler failure: fall back to eager and go on
            if current[0] is fn:
                raise
            warnings.warn(f"torch.compile failed ({type(exc).__name__}: {exc}); training in "
                          "eager mode", RuntimeWarning, stacklevel=2)
            current[0] = fn
            return fn(*args)
        if pending[0] is not None and current[0] is not fn:
            pending[1] += 1
            if pending[1] == 2:
                mark_warm(pending[0])
                pending[0] = None
        return out

    return call


def bf16_autocast(device_type: str, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast when `enabled`, else no context at all. Not `torch.autocast(...,
    enabled=False)`: traced by dynamo, even a disabled autocast puts its enter/exit calls in
    the graph, and AOTAutograd's on-disk cache then refuses the graph, so that every warm
    compilation traces the joint graph again (~10 s of a 256x256 `coolchic` step)."""
    if enabled:
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
