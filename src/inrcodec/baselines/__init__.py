"""Classical image codecs as baselines: JPEG, WebP, AVIF, JPEG XL and JPEG 2000, run at a
quality or rate-matched to a target bit rate."""

from .codecs import BASELINES, Baseline, SearchKnob, get_baseline, register_baseline
from .run import BaselineResult, encode_at_bpp, run_baseline

__all__ = ["BASELINES", "Baseline", "BaselineResult", "SearchKnob", "encode_at_bpp",
           "get_baseline", "register_baseline", "run_baseline"]
