"""Time budgets: an anytime encode that fits its schedule to a number of seconds.

`plan` times a few training steps of the codec on the image and asks the codec how long coding
takes after training; what is left is training time, shared among the recipe's phases in
proportion to their planned steps. The encode runs inside `fitting.time_limit(deadline,
step_seconds)`: every training loop then follows the clock (its schedule completes in its
share of the time, with more iterations than planned on a fast machine and fewer on a slow
one), and training stops at the deadline in any case, coding the best state it has. A timing
probe alone would not do: on shared cores a step's time moves by 2x within seconds.
torch.compile is off unless the settings ask for it (`compile = true`): its first call costs a
compilation that the first phase's clock pays (seconds with a warm inductor cache for this
image size, a minute or more with a cold one); the probe always times the eager step, so a
compiled encode runs more iterations than planned in the same time.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch

from .codecs.base import Codec
from .errors import ConfigError
from .image import Image

MIN_STEPS = 10  # a budget that cannot pay for this many steps is refused
SAFETY = 1.3  # margin on the estimated coding time


@dataclass
class BudgetPlan:
    seconds: float  # the whole budget
    step_seconds: float  # one training step, measured
    coding_seconds: float  # reserved after training (estimate x SAFETY)
    calibration_seconds: float  # spent measuring
    share: float  # training seconds per planned step
    settings: Any  # the settings to encode with (compile only where asked for)

    def deadline(self, start: float) -> float:
        """When training must stop, for an encode that started at `start`."""
        return start + self.seconds - self.coding_seconds

    def log(self) -> dict[str, float]:
        return {"budget_s": self.seconds, "probe_step_s": self.step_seconds,
                "coding_reserve_s": self.coding_seconds,
                "calibration_s": self.calibration_seconds, "seconds_per_planned_step": self.share,
                "planned_vs_probe_speed": self.share / self.step_seconds}


def plan(codec: Codec, image: Image, settings: Any, seconds: float,
         device: torch.device) -> BudgetPlan:
    if not (isinstance(seconds, int | float) and seconds > 0):
        raise ConfigError(f"the budget must be a positive number of seconds, got {seconds!r}")
    probe = settings
    if hasattr(settings, "compile"):
        probe = dataclasses.replace(settings, compile=False)
        settings = dataclasses.replace(settings, compile=settings.compile is True)
    t0 = time.perf_counter()
    step = codec.seconds_per_step(image, probe, device)
    calibration = time.perf_counter() - t0
    coding = SAFETY * codec.coding_seconds(image, settings, step, budget=seconds)
    available = seconds - calibration - coding
    if available < MIN_STEPS * step:
        need = calibration + coding + MIN_STEPS * step
        raise ConfigError(f"a {seconds:g} s budget is too short for {codec.name} on this "
                          f"{image.width}x{image.height} image: one training step takes "
                          f"{step:.3f} s and coding ~{coding:.1f} s; give at least {need:.0f} s")
    planned = max(1, codec.planned_steps(settings))
    return BudgetPlan(seconds, step, coding, calibration, available / planned, settings)
