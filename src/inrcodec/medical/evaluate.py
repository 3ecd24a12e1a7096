"""The segmenter's evaluation: per case, the mean Dice over its 10 largest-tumour slices (on the
slices and on Gaussian-blurred copies) and the case-level Dice of all its slices pooled.

Targets (issue 18), on the validation cases and on the two test cases:
  - mean Dice >= 0.85 over each case's 10 largest-tumour slices;
  - no preference for blur: over those slices, mean Dice of copies blurred with a Gaussian of
    sigma 2 px <= mean Dice of the originals + 0.02.
The case-level Dice is reported beside them: every slice of the volume (brain or not) is
segmented and the masks are pooled into one volume Dice.

Each slice is read as the compression pipeline reads it (io/nifti.py, [0, 1]) and blurred there,
before the network's own per-slice normalisation, as a blurry reconstruction would arrive.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .datasets import Case, load_case
from .dice import dice
from .split import Split, case_id
from .unet import segment_logits

N_LARGEST = 10
BLUR_SIGMA = 2.0
DICE_TARGET = 0.85
BLUR_MARGIN = 0.02


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """[N, C, H, W] blurred by a separable Gaussian (radius ceil(4 sigma), reflect padding)."""
    if sigma <= 0:
        return x
    r = max(1, math.ceil(4 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1),
                 groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1),
                    groups=c)


def slice_stack(case: Case, k: int, context: int = 0) -> torch.Tensor:
    """[2*context+1, H, W]: slice k and its neighbours as the pipeline reads them."""
    z = case.volume.shape[2]
    return torch.cat([case.image(int(min(max(j, 0), z - 1))).data
                      for j in range(k - context, k + context + 1)])


@torch.no_grad()
def predict(net: nn.Module, case: Case, slices: Sequence[int], *, blur: float = 0.0,
            batch: int = 16) -> np.ndarray:
    """Hard masks [len(slices), H, W] of the given slices (optionally blurred first)."""
    context = (getattr(getattr(net, "config", None), "in_channels", 1) - 1) // 2
    net.eval()
    out = []
    for i in range(0, len(slices), batch):
        x = torch.stack([slice_stack(case, k, context) for k in slices[i:i + batch]])
        out.append((segment_logits(net, gaussian_blur(x, blur))[:, 0] > 0).numpy())
    return np.concatenate(out) if out else np.zeros((0, *case.volume.shape[:2]), bool)


def case_scores(net: nn.Module, case: Case, *, n_largest: int = N_LARGEST,
                blur_sigma: float = BLUR_SIGMA, pooled: bool = True) -> dict[str, Any]:
    """One case's row: per-slice Dice on its n largest-tumour slices (original and blurred),
    their means, and the pooled Dice of all slices (when `pooled`)."""
    largest = case.largest_tumour_slices(n_largest)
    gt = [case.mask(k) for k in largest]
    orig = [dice(p, g) for p, g in zip(predict(net, case, largest), gt, strict=True)]
    blurred = [dice(p, g) for p, g in
               zip(predict(net, case, largest, blur=blur_sigma), gt, strict=True)]
    row: dict[str, Any] = {
        "case": case_id(case.name), "slices": largest, "dice": orig, "dice_blurred": blurred,
        "mean_dice": float(np.mean(orig)) if orig else float("nan"),
        "mean_dice_blurred": float(np.mean(blurred)) if blurred else float("nan")}
    if pooled:
        every = list(range(case.volume.shape[2]))
        pred = predict(net, case, every)
        row["pooled_dice"] = dice(pred, np.moveaxis(case.tumour, 2, 0))
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over a part's cases, and whether each case meets the targets."""
    def mean(key: str) -> float:
        vals = [r[key] for r in rows if key in r]
        return float(np.mean(vals)) if vals else float("nan")

    for r in rows:
        r["meets_dice"] = bool(r["mean_dice"] >= DICE_TARGET)
        r["meets_blur"] = bool(r["mean_dice_blurred"] <= r["mean_dice"] + BLUR_MARGIN)
    return {"cases": len(rows), "mean_dice": mean("mean_dice"),
            "mean_dice_blurred": mean("mean_dice_blurred"), "pooled_dice": mean("pooled_dice"),
            "all_meet_dice": all(r["meets_dice"] for r in rows),
            "all_meet_blur": all(r["meets_blur"] for r in rows)}


def evaluate(net: nn.Module, root: str | Path, split: Split,
             parts: Sequence[str] = ("validation", "test"), modality: str = "fla",
             cases: dict[str, Case] | None = None, pooled: bool = True) -> dict[str, Any]:
    """{part: {"rows": [...], "summary": {...}}} for the split's `parts` (`cases`: already
    loaded cases by name, e.g. the validation cases a training run keeps in memory)."""
    result: dict[str, Any] = {}
    for part in parts:
        rows = []
        for name in getattr(split, part):
            case = (cases or {}).get(name) or load_case(root, name, modality)
            rows.append(case_scores(net, case, pooled=pooled))
        result[part] = {"rows": rows, "summary": summarise(rows)}
    return result


def _f(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def report_markdown(result: dict[str, Any], header: str = "") -> str:
    lines = [header.rstrip(), ""] if header else []
    lines += ["| part | case | mean Dice, 10 largest | blurred (sigma 2) | blurred - original "
              "| case-level Dice (pooled) | Dice >= 0.85 | no blur preference |",
              "|---|---|---|---|---|---|---|---|"]
    for part, block in result.items():
        for r in block["rows"]:
            lines.append(
                f"| {part} | {r['case']} | {_f(r['mean_dice'])} | {_f(r['mean_dice_blurred'])} "
                f"| {r['mean_dice_blurred'] - r['mean_dice']:+.3f} | {_f(r.get('pooled_dice'))} "
                f"| {'yes' if r['meets_dice'] else 'no'} | {'yes' if r['meets_blur'] else 'no'} |")
        s = block["summary"]
        lines.append(f"| {part} | **mean of {s['cases']}** | {_f(s['mean_dice'])} | "
                     f"{_f(s['mean_dice_blurred'])} | "
                     f"{s['mean_dice_blurred'] - s['mean_dice']:+.3f} | {_f(s['pooled_dice'])} "
                     f"| {'all' if s['all_meet_dice'] else 'not all'} | "
                     f"{'all' if s['all_meet_blur'] else 'not all'} |")
    return "\n".join(lines) + "\n"


def write_report(result: dict[str, Any], stem: str | Path, info: dict[str, Any] | None = None,
                 header: str = "") -> tuple[Path, Path]:
    """`stem`.json (the result and `info`) and `stem`.md (a header and the table)."""
    from ..io import write_bytes

    stem = Path(stem)
    js, md = stem.with_suffix(".json"), stem.with_suffix(".md")
    write_bytes(js, (json.dumps({"info": info or {}, "result": result}, indent=1) + "\n")
                .encode())
    write_bytes(md, report_markdown(result, header).encode())
    return js, md
