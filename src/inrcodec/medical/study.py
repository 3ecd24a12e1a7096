"""The SINCO study: Table 1 (COIN, Vanilla INR, SINCO (SIREN), SINCO (INR)), the lambda sweep,
classical codecs at matched rate, and any other codec of the registry.

Measures, per slice (a 240x240 axial slice of the held-out case):
  psnr      on source values (original integer units) with peak = the original slice's range
            (max - min): 10 log10(range^2 / MSE). Equal to PSNR on the uint16 values shifted to
            non-negative with peak = slice range.
  ssim      SSIM (Gaussian window 11, sigma 1.5) of the slices mapped to [0, 1] by the original
            slice's min and range (data range 1).
  dice      Dice of g(decoded) > 0.5 against the ground-truth whole-tumour mask; g normalises the
            decoded image with its own statistics (what a receiver can do).
  bpp_paper 16 x parameters / pixels (SINCO's definition; INR codecs only).
  bpp       real file bytes x 8 / pixels (.inr file with header, or the J2K/JXL codestream).

lambda is on SINCO's scale: the paper's fidelity is the squared L2 norm (a sum over pixels), so
the study trains mean-MSE + (lambda / pixels) * (1 - Dice) (task_loss.SincoLoss, per_pixel).

Rows are appended to results.json as they finish, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..image import Image
from ..metrics import dice
from ..ssim import ssim
from .classical import encode_at_bpp
from .datasets import Case
from .nifti import values_of
from .task_loss import sinco_loss
from .unet import segment

# Network sizes giving ~1.2 bpp at 16 bits/parameter on 240x240 (4320 parameters):
SIREN_1P2 = {"layers": 4, "width": 37}  # 4367 parameters (1.213 bpp)
PEMLP_1P2 = {"layers": 3, "width": 39, "bands": 7, "skips": ()}  # 4369 parameters (1.214 bpp)


def sizes_for(bpp: float, pixels: int = 240 * 240) -> tuple[dict, dict]:
    """(siren, pe-mlp) settings whose 16 x parameters / pixels is closest to `bpp`, with the
    Table 1 shapes (siren: 4 sine layers; pe-mlp: 7 bands, 3 hidden layers, no skip)."""
    target = bpp * pixels / 16.0

    def best(count) -> int:
        return min(range(2, 512), key=lambda w: abs(count(w) - target))

    w_s = best(lambda w: 3 * w * w + 7 * w + 1)  # 2->w, 3 x (w->w), w->1
    w_p = best(lambda w: 2 * w * w + 34 * w + 1)  # 30->w, 2 x (w->w), w->1
    return SIREN_1P2 | {"width": w_s}, PEMLP_1P2 | {"width": w_p}


@dataclass
class Method:
    label: str
    codec: str
    lam: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    fidelity: str = "mse"
    reference: str = "mask"  # sinco reference: "mask" (ground truth) or "g" (g(original))
    group: str = "table"
    per_pixel: bool = True  # lambda on SINCO's scale (L2 = sum over pixels), see task_loss

    @property
    def key(self) -> str:
        return self.label


def paper_methods(steps: int, lr: float = 1e-3, lam: float = 1.0, bpp: float = 1.2
                  ) -> list[Method]:
    """SINCO's Table 1: COIN (siren, L2), Vanilla INR (pe-mlp), SINCO (SIREN), SINCO (INR).

    At a `bpp` other than 1.2 the labels get " @<bpp>" and the group is "rate"."""
    s = {"steps": steps, "lr": lr}
    siren, pemlp = sizes_for(bpp)
    tag, group = ("", "table") if bpp == 1.2 else (f" @{bpp:g}", "rate")
    return [
        Method("COIN" + tag, "siren", 0.0, siren | s, group=group),
        Method("Vanilla INR" + tag, "pe-mlp", 0.0, pemlp | s, group=group),
        Method("SINCO (SIREN)" + tag, "siren", lam, siren | s, group=group),
        Method("SINCO (INR)" + tag, "pe-mlp", lam, pemlp | s, group=group),
    ]


def sweep_methods(steps: int, lambdas: list[float], lr: float = 1e-3) -> list[Method]:
    s = {"steps": steps, "lr": lr}
    return [Method(f"SINCO (INR) lambda={lam:g}", "pe-mlp", lam, PEMLP_1P2 | s, group="sweep")
            for lam in lambdas]


def measure(ref: Image, decoded_values: np.ndarray, gt: np.ndarray,
            net: torch.nn.Module | None = None) -> dict[str, float]:
    """psnr / ssim / dice of a decoded slice (source units) against the original (module doc)."""
    rv = values_of(ref).astype(np.float64)
    dv = np.asarray(decoded_values, dtype=np.float64)
    lo, rng = float(rv.min()), float(rv.max() - rv.min()) or 1.0
    mse = float(np.mean((rv - dv) ** 2))
    psnr = math.inf if mse == 0 else 10.0 * math.log10(rng * rng / mse)
    a = torch.from_numpy((rv - lo) / rng)[None, None]
    b = torch.from_numpy((dv - lo) / rng)[None, None]
    with torch.no_grad():
        s = float(ssim(b, a))
    mask = segment(b.float()[0], net)[0]
    return {"psnr": psnr, "ssim": s, "dice": dice(mask, gt)}


def run_inr(method: Method, image: Image, gt: np.ndarray, net: torch.nn.Module,
            seed: int = 0, progress: Callable | None = None) -> tuple[dict, np.ndarray]:
    from .. import api

    loss = sinco_loss(method.fidelity, method.lam, mask=gt if method.reference == "mask" else None,
                      net=net, per_pixel=method.per_pixel)
    t0 = time.perf_counter()
    res = api.encode(image, codec=method.codec, loss=loss, seed=seed, device="cpu",
                     metrics=False, lpips=False, progress=progress, **method.settings)
    secs = time.perf_counter() - t0
    dec = api.decode(bytes(res), device="cpu")
    values = values_of(dec)
    params = int(res.log.get("num_params", 0))
    row = {"bpp": res.bpp, "bpp_paper": 16.0 * params / image.num_pixels if params else None,
           "params": params, "seconds": secs, "loss": res.loss}
    return row, values


def run_classical(codec: str, image: Image, target_bpp: float) -> tuple[dict, np.ndarray]:
    rv = values_of(image).astype(np.float64)
    lo = float(rv.min())
    shifted = np.round(rv - lo).astype(np.uint16)
    t0 = time.perf_counter()
    r = encode_at_bpp(codec, shifted, target_bpp)
    values = r.decoded.astype(np.float64) + lo
    return {"bpp": r.bpp, "bpp_paper": None, "knob": r.knob, "target_bpp": target_bpp,
            "seconds": time.perf_counter() - t0}, values


class Results:
    """results.json: {"meta": ..., "rows": [...]}, rewritten after every row (resumable)."""

    def __init__(self, path: Path, meta: dict, merge: list[Path] = ()) -> None:
        self.path = path
        self.rows: list[dict] = []
        if path.exists():
            self.rows = json.loads(path.read_text()).get("rows", [])
        self.meta = meta
        for other in merge:  # rows of other runs (e.g. slices run in parallel elsewhere)
            for r in json.loads((Path(other) / "results.json").read_text()).get("rows", []):
                if not self.done(r["method"], r["slice"]):
                    self.rows.append(r)

    def done(self, method: str, slice_id: int) -> bool:
        return any(r["method"] == method and r["slice"] == slice_id for r in self.rows)

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.save()

    def save(self) -> None:
        from ..io import write_bytes

        write_bytes(self.path, json.dumps({"meta": self.meta, "rows": self.rows}, indent=1,
                                          default=_jsonable).encode())


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def run_study(case: Case, slices: list[int], methods: list[Method], out: Path, *,
              classical: list[str] = (), classical_bpps: list[float] = (), net=None,
              meta: dict | None = None, seed: int = 0,
              on_row: Callable[[dict], None] | None = None,
              progress: Callable | None = None, recon_slice: int | None = None,
              merge: list[Path] = ()) -> Results:
    """Run every (method, slice) and classical (codec, bpp, slice) not yet in results.json."""
    from .unet import shipped_unet

    net = shipped_unet() if net is None else net
    out.mkdir(parents=True, exist_ok=True)
    results = Results(out / "results.json", meta or {}, merge)
    recon_dir = out / "recon"
    recon_slice = slices[0] if recon_slice is None else recon_slice

    def finish(row: dict, image: Image, values: np.ndarray, gt: np.ndarray) -> None:
        row.update(measure(image, values, gt, net))
        results.add(row)
        if row["slice"] == recon_slice:
            recon_dir.mkdir(exist_ok=True)
            name = row["method"].replace(" ", "_").replace("(", "").replace(")", "")
            np.save(recon_dir / f"{name}_{row['slice']}.npy", values.astype(np.float32))
            if row["method"] == "Original":
                np.save(recon_dir / f"gt_{row['slice']}.npy", gt)
        if on_row is not None:
            on_row(row)

    for k in slices:
        image, gt = case.image(k), case.mask(k)
        if not results.done("Original", k):
            finish({"method": "Original", "group": "reference", "slice": k, "bpp": None,
                    "bpp_paper": None}, image, values_of(image), gt)
        for codec in classical:
            for bpp in classical_bpps:
                label = f"{codec} @{bpp:g}"
                if results.done(label, k):
                    continue
                row, values = run_classical(codec, image, bpp)
                finish({"method": label, "group": "classical", "codec": codec, "slice": k}
                       | row, image, values, gt)
        for m in methods:
            if results.done(m.label, k):
                continue
            row, values = run_inr(m, image, gt, net, seed, progress)
            finish({"method": m.label, "group": m.group, "codec": m.codec, "lam": m.lam,
                    "reference": m.reference, "slice": k, "settings": m.settings} | row,
                   image, values, gt)
    return results


def summarise(rows: list[dict]) -> list[dict]:
    """Mean (and std) per method over slices, in first-seen order."""
    order: list[str] = []
    by: dict[str, list[dict]] = {}
    for r in rows:
        if r["method"] not in by:
            order.append(r["method"])
            by[r["method"]] = []
        by[r["method"]].append(r)
    out = []
    for name in order:
        rs = by[name]
        s = {"method": name, "group": rs[0].get("group"), "codec": rs[0].get("codec"),
             "lam": rs[0].get("lam"), "n": len(rs)}
        for key in ("psnr", "ssim", "dice", "bpp", "bpp_paper", "seconds"):
            vals = [r[key] for r in rs if r.get(key) is not None and math.isfinite(r[key])]
            s[key] = float(np.mean(vals)) if vals else None
            if key in ("psnr", "ssim", "dice") and vals:
                s[key + "_std"] = float(np.std(vals))
        out.append(s)
    return out


def sweep_rows(summary: list[dict]) -> list[dict]:
    """pe-mlp rows of Table 1 and the sweep, by lambda (lambda 0 = Vanilla INR)."""
    rows = [s | {"group": "sweep", "method": f"SINCO (INR) lambda={s['lam']:g}"}
            for s in summary if s["codec"] == "pe-mlp" and s["group"] in ("table", "sweep")]
    return sorted(rows, key=lambda s: s["lam"])


def markdown_table(summary: list[dict], groups: tuple[str, ...] | None = None) -> str:
    lines = ["| method | PSNR (dB) | SSIM | Dice | bpp (16 x params / px) | bpp (file) | n |",
             "|---|---|---|---|---|---|---|"]

    def f(v: float | None, d: int) -> str:
        return "-" if v is None else f"{v:.{d}f}"

    for s in summary:
        if groups is not None and s["group"] not in groups:
            continue
        lines.append(f"| {s['method']} | {f(s['psnr'], 2)} | {f(s['ssim'], 3)} | "
                     f"{f(s['dice'], 3)} | {f(s['bpp_paper'], 3)} | {f(s['bpp'], 3)} | {s['n']} |")
    return "\n".join(lines)


def write_outputs(results: Results, out: Path, figure_slice: int | None = None,
                  net: torch.nn.Module | None = None) -> dict:
    """summary.json, results.csv, table.md, dice_vs_bpp.png, psnr_vs_bpp.png, fig3.png."""
    import csv

    from ..io import write_bytes

    summary = summarise(results.rows)
    write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
    keys = ["method", "group", "codec", "lam", "reference", "slice", "psnr", "ssim", "dice",
            "bpp_paper", "bpp", "params", "seconds", "knob", "target_bpp"]
    with open(out / "results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for r in results.rows:
            w.writerow(r)
    md = ["## Table 1 (SINCO) at ~1.2 bpp", "", markdown_table(summary, ("reference", "table")),
          "", "## lambda sweep, SINCO (INR)", "", markdown_table(sweep_rows(summary)),
          "", "## other rates (Table 1 methods resized to the rate)", "",
          markdown_table(summary, ("rate",)),
          "", "## classical codecs and other codecs", "",
          markdown_table(summary, ("classical", "extra"))]
    (out / "table.md").write_text("\n".join(md) + "\n")
    from .plots import fig3, rate_plots

    rate_plots(summary, out)
    if figure_slice is not None and (out / "recon").is_dir():
        fig3(results.rows, out, figure_slice, net=net)
    return {"summary": summary, "markdown": "\n".join(md)}


def method_asdict(m: Method) -> dict:
    return asdict(m)
