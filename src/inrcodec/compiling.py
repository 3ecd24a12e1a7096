"""torch.compile for training steps: when it pays, and eager mode when it cannot run.

Compiling a training step makes each step faster but costs seconds before the first one (tens
of seconds the first time a graph is seen, before inductor's on-disk cache holds it), so a
codec compiles only runs long enough to amortise that: `wants_compile` decides from the
pixel-steps of the run unless the user said yes or no. `compiled` wraps a function so that any
compiler failure (no C++ compiler, an unsupported backend, a graph break under `fullgraph`)
warns once and leaves training in eager mode: the two differ only in floating-point rounding.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch


def wants_compile(setting: bool | None, pixels: int, steps: int, min_pixel_steps: int) -> bool:
    """The `compile` setting: True/False as given; None (auto) when pixels x steps reaches
    `min_pixel_steps`."""
    if setting is not None:
        return bool(setting)
    return pixels * steps >= min_pixel_steps


def compiled(fn: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """`fn` through torch.compile(fn, dynamic=False, **options), with eager `fn` from the
    first failure on."""
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
