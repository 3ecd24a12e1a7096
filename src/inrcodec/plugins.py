"""Plugins: packages that add loss terms, metrics or baselines through the registries.

A plugin is a Python entry point in the group `inrcodec.plugins` naming a function that takes
no argument and registers what it provides (`losses.register`, `metrics.register_metric`, ...).
The registries call `load_plugins()` when they are asked for a name they do not know, so a
plugin's modules are imported only when one of its names is used.
"""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points

GROUP = "inrcodec.plugins"
_loaded = False


def load_plugins() -> None:
    """Run every installed plugin's registration function once per process."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in entry_points(group=GROUP):
        try:
            ep.load()()
        except Exception as exc:  # a broken plugin must not break the core
            warnings.warn(f"inrcodec plugin {ep.name!r} failed to load: {exc}", RuntimeWarning,
                          stacklevel=2)
