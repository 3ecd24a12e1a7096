"""Cool-chic v1 and v2: two configurations (settings defaults and presets) of one codec."""

from __future__ import annotations

from .codec import CoolChicCodec
from .model import CoolChicV1Settings

# Cool-chic 3.x/4.x "lop" complexity (~500 MAC/pixel), for the speed-s1 comparison
LOP_MODEL = {
    "synthesis": "16-1-linear-relu,X-1-linear-none,X-3-residual-relu,X-3-residual-none",
    "arm_context": 8, "arm_hidden": (8, 8),
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
    }
