"""Cool-chic v1 and v2: two configurations (settings defaults and presets) of one codec."""

from __future__ import annotations

from .codec import CoolChicCodec
from .model import CoolChicV1Settings

# Cool-chic 3.x/4.x "lop" complexity (~500 MAC/pixel), for the speed-s1 comparison
LOP_MODEL = {
    "synthesis": "16-1-linear-relu,X-1-linear-none,X-3-residual-relu,X-3-residual-none",
    "arm_context": 8, "arm_hidden": (8, 8),
}


# The ICIP 2024 loss study's reference runs (INRAnalysis-ICIP24/cool-chic; recipes.py).
# 1.0-adaptations, samples/run_generic.sh: 1,000 iterations, 5 x 200 warm-up, synthesis and
# ARM 12,12 (their 12 -> 12 layers residual), 2 context rows (12 neighbours), clip 10.
V1_ICIP24 = {
    "recipe": "cc1", "synthesis": "12-1-linear-relu,12-1-residual-relu,X-1-linear-none",
    "arm_residual": True, "steps": 1000, "ste_steps": 0, "warmup_candidates": 5,
    "warmup_steps": 200, "grad_clip": 10.0,
}
# 2.0-adaptations, run_generic.sh with --recipe=faster: 2,800 warm-up steps (5, 4, 3, 2
# candidates x 200) and 6,300 in 11 phases; its synthesis (ReLU on the 3-channel layer), one
# learned 8x8 upsampling kernel, ARM 24,24 residual on 3 context rows (24 neighbours), clip 0.1.
V2_ICIP24 = {
    "recipe": "cc2",
    "synthesis": "40-1-linear-relu,X-1-linear-relu,X-3-residual-relu,X-3-residual-none",
    "upsampling": "learned-2d", "arm_residual": True, "arm_context": 24, "arm_hidden": (24, 24),
    "steps": 6300, "ste_steps": 0, "warmup_candidates": 5, "warmup_steps": 200,
    "grad_clip": 0.1,
}


class CoolChicV1(CoolChicCodec):
    """Ladune et al., ICCV 2023: bicubic upsampling, pixel-wise MLP synthesis."""

    name = "coolchic-v1"
    settings_cls = CoolChicV1Settings
    presets = {
        "default": {"steps": 4000, "ste_steps": 300, "warmup_steps": 100},
        "fast": {"steps": 1100, "ste_steps": 100, "warmup_steps": 50},
        "slow": {"steps": 10000, "ste_steps": 1000, "warmup_candidates": 3,
                 "warmup_steps": 200},
        "icip24": V1_ICIP24,
        # twice as long: the study's check that a ranking holds with more training
        "icip24-x2": {**V1_ICIP24, "steps": 2000},
    }


class CoolChicV2(CoolChicCodec):
    """Leguay et al., 2023: learned upsampling, convolutional synthesis, warm-up."""

    name = "coolchic-v2"
    presets = {
        "default": {"steps": 4000, "ste_steps": 400, "warmup_candidates": 4,
                    "warmup_steps": 100},
        "fast": {"steps": 1100, "ste_steps": 150, "warmup_candidates": 3, "warmup_steps": 50},
        "slow": {"steps": 10000, "ste_steps": 1000, "warmup_candidates": 5,
                 "warmup_steps": 200},
        "lop": {**LOP_MODEL, "steps": 1100, "ste_steps": 150, "warmup_candidates": 3,
                "warmup_steps": 50},
        "icip24": V2_ICIP24,
        # the same recipe at a quarter of the steps (700 warm-up + 1,575): the study's grid
        "icip24-quarter": {**V2_ICIP24, "steps": 1575, "warmup_steps": 50},
        "icip24-x2": {**V2_ICIP24, "steps": 12600, "warmup_steps": 400},
    }
