"""Built-in grids (`--preset quick`, `--preset seed-study`) and per-codec rate sweeps.

seed-study reproduces the grid of Catania & Allegra (ICIP 2024), "Redefining visual quality:
the impact of loss functions on INR-based image compression": Cool-chic v1, Cool-chic v2 and
NIF, each trained with five losses (MSE, L1, LogCosh, LogCosh+SSIM, L1+SSIM), on the 24 Kodak
images, against JPEG, WebP, AVIF and JPEG XL. The paper's "MSE/RMSE" column is `mse` here for
every architecture (`rmse` is available; a study anchors its BD tables on whichever is run).

quick is the same study shrunk to finish in under 30 minutes on 2 CPU cores while still
producing every figure and table: two kodak6-half images cropped to 128x128, three rate
points, the codecs' fast presets with fewer steps.

seed-study is a GPU or cluster run (`--executor ray`); quick takes about half an hour on 2 CPU
cores. Measured costs: benchmarks/results/seed_study_cost.md.

Each codec's rate sweep is a list of setting tables (`RATES[codec][level]`); encoder-only
knobs shared by every rate point are in `SETTINGS[codec][level]`.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .spec import BaselineRun, CodecRun, ImageSet, Spec

STUDY_LOSSES = ["mse", "l1", "logcosh", "lcssim", "l1ssim"]
STUDY_CODECS = ["coolchic-v1", "coolchic-v2", "nif"]
ALL_BASELINES = ["jpeg/444", "jpeg/420", "webp", "avif", "jpegxl"]

# Weight-INR codecs set their rate by network size, so the 128x128 crops of `quick` need
# smaller networks than full Kodak images to land in the same bpp range (~0.5-4 bpp).
RATES: dict[str, dict[str, list[dict[str, Any]]]] = {
    # COIN's network sizes (layers x width): ~0.07 to ~0.6 bpp on full Kodak images
    "siren": {
        "quick": [{"layers": 4, "width": 16}, {"layers": 5, "width": 20},
                  {"layers": 6, "width": 28}],
        "full": [{"layers": 5, "width": 20}, {"layers": 10, "width": 28},
                 {"layers": 10, "width": 40}, {"layers": 13, "width": 49}],
    },
    "pe-mlp": {
        "quick": [{"width": 12}, {"width": 16}, {"width": 24}],
        "full": [{"width": 24}, {"width": 36}, {"width": 48}, {"width": 72}, {"width": 96}],
    },
    # NIF's public Kodak configurations 120/200/280/360 (0.28 to 1.63 bpp in the NIF paper);
    # quick: the same shape scaled down
    "nif": {
        "quick": [{"hidden": [24, 16, 12, 8], "mod_hidden": [8, 4]},
                  {"hidden": [48, 24, 16, 10], "mod_hidden": [8, 4]},
                  {"hidden": [64, 32, 20, 12], "mod_hidden": [16, 8]}],
        "full": [{"hidden": [120, 40, 28, 16], "mod_hidden": [16, 8]},
                 {"hidden": [200, 64, 40, 20], "mod_hidden": [64, 16, 8]},
                 {"hidden": [280, 100, 48, 16], "mod_hidden": [64, 16, 8]},
                 {"hidden": [360, 150, 70, 32], "mod_hidden": [64, 16, 8]}],
    },
    # Cool-chic sets its rate by lambda (the same, MSE-tuned, for every loss); full: the
    # lambdas of the published Kodak curves (Cool-chic 1.0 and 5.0.1)
    "coolchic-v1": {
        "quick": [{"lmbda": 1e-3}, {"lmbda": 4e-3}, {"lmbda": 2e-2}],
        "full": [{"lmbda": 1e-4}, {"lmbda": 5e-4}, {"lmbda": 4e-3}, {"lmbda": 2e-2}],
    },
    "coolchic-v2": {
        "quick": [{"lmbda": 1e-3}, {"lmbda": 4e-3}, {"lmbda": 2e-2}],
        "full": [{"lmbda": 1e-4}, {"lmbda": 4e-4}, {"lmbda": 1e-3}, {"lmbda": 4e-3},
                 {"lmbda": 2e-2}],
    },
    # the lambdas of the side-by-side runs against Cool-chic 5.0.1 (~0.1 to ~2 bpp on
    # kodak6-half)
    "coolchic": {
        "quick": [{"lmbda": 1e-3}, {"lmbda": 4e-3}, {"lmbda": 2e-2}],
        "full": [{"lmbda": 2e-4}, {"lmbda": 1e-3}, {"lmbda": 4e-3}, {"lmbda": 2e-2}],
    },
}
SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "siren": {"quick": {"steps": 300, "qat_steps": 30}, "full": {}},
    "pe-mlp": {"quick": {"steps": 300, "qat_steps": 30}, "full": {}},
    "nif": {"quick": {"steps": 300, "rounds": 3, "qat_steps": 60, "qat_rounds": 2},
            "full": {}},
    "coolchic-v1": {"quick": {"steps": 150, "ste_steps": 20, "warmup_candidates": 1},
                    "full": {}},
    "coolchic-v2": {"quick": {"steps": 120, "ste_steps": 20, "warmup_candidates": 1},
                    "full": {}},
    "coolchic": {"quick": {"iterations": 300}, "full": {}},
}
PRESET_OF: dict[str, dict[str, str]] = {
    "coolchic-v1": {"quick": "fast", "full": "fast"},
    "coolchic-v2": {"quick": "fast", "full": "fast"},
    "coolchic": {"quick": "fast", "full": "fast"},
}  # codec -> level -> codec preset (default: "default")


def codec_run(name: str, level: str, losses: list[str] | None = None) -> CodecRun:
    """The preset's rate sweep for one codec; unknown codecs get a clear error."""
    if name not in RATES:
        from ..codecs.registry import CODECS

        known = f" (registered codecs: {', '.join(CODECS)})"
        raise ConfigError(f"no built-in rate sweep for codec {name!r}{known}; it may not be "
                          f"implemented yet, or give its rates in a spec file")
    return CodecRun(name=name, preset=PRESET_OF.get(name, {}).get(level, "default"),
                    rates=[dict(r) for r in RATES[name][level]],
                    settings=dict(SETTINGS.get(name, {}).get(level, {})),
                    losses=losses)


def quick(codecs: list[str] | None = None) -> Spec:
    return Spec(
        name="quick",
        description="seed study shrunk for 2 CPU cores: 2 kodak6-half images cropped to "
                    "128x128, 3 rate points per codec, few training steps",
        images=[ImageSet(protocol="kodak6-half", crop=[64, 64, 192, 192], limit=2)],
        codecs=[codec_run(c, "quick") for c in (codecs or STUDY_CODECS)],
        baselines=[BaselineRun(b) for b in ALL_BASELINES],
        losses=list(STUDY_LOSSES), seeds=[0], device="auto", lpips=True)


def seed_study(codecs: list[str] | None = None) -> Spec:
    return Spec(
        name="seed-study",
        description="Catania & Allegra (ICIP 2024) grid: Kodak 24, 3 INR architectures x 5 "
                    "losses x their rate points, plus JPEG/WebP/AVIF/JPEG XL",
        images=[ImageSet(protocol="kodak24")],
        codecs=[codec_run(c, "full") for c in (codecs or STUDY_CODECS)],
        baselines=[BaselineRun(b) for b in ALL_BASELINES],
        losses=list(STUDY_LOSSES), seeds=[0], device="auto", lpips=True)


PRESETS = {"quick": quick, "seed-study": seed_study}


def preset_spec(name: str, codecs: list[str] | None = None) -> Spec:
    if name not in PRESETS:
        raise ConfigError(f"unknown bench preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name](codecs)
