"""Shared pieces of the benchmark scripts: the named image protocols and result recording."""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path

import torch

import inrcodec
from inrcodec.image import Image
from inrcodec.io import pil_to_image

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
COMPILE = {"auto": None, "on": True, "off": False}  # --compile choices -> setting
KODAK6 = ("kodim01", "kodim03", "kodim08", "kodim15", "kodim20", "kodim23")


def protocol_images(protocol: str, names: tuple[str, ...] = KODAK6) -> dict[str, Image]:
    """kodak6 (full size), kodak6-half (Pillow reduce(2), box filter) or kodak24."""
    from PIL import Image as PILImage

    if protocol == "kodak24":
        names = tuple(f"kodim{i:02d}" for i in range(1, 25))
    out = {}
    for name in names:
        with PILImage.open(KODAK / f"{name}.png") as im:
            im = im.convert("RGB")
            if protocol == "kodak6-half":
                im = im.reduce(2)
            elif protocol not in ("kodak6", "kodak24"):
                raise ValueError(f"unknown protocol {protocol}")
            out[name] = pil_to_image(im, source=name)
    return out


def machine() -> str:
    return (f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch "
            f"{torch.__version__}, inrcodec {inrcodec.__version__}")


def machine_note() -> str:
    """machine() and the load on these shared cores when a run starts (timings depend on it)."""
    import os

    return machine() + f" (2 shared cores, load average {os.getloadavg()[0]:.1f} at the start)"


def today() -> str:
    return datetime.date.today().isoformat()


def load_rows(path: Path) -> list[dict]:
    return json.loads(path.read_text())["rows"] if path.exists() else []


def save_rows(path: Path, meta: dict, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=str))


RECON = ROOT / "bench-runs" / "recon"  # decoded images (not committed)


def save_recon(result: inrcodec.EncodeResult, key: str) -> str:
    """Keep the decoded image so metrics can be (re)computed without re-encoding."""
    from inrcodec.io import write_image

    RECON.mkdir(parents=True, exist_ok=True)
    path = RECON / f"{key}.png"
    write_image(result.reconstruction, path)
    return str(path)


def fill_lpips(rows: list[dict], reference: dict[str, Image]) -> None:
    """Add LPIPS to rows that lack it, from their saved reconstructions."""
    from inrcodec.io import read_image
    from inrcodec.metrics import evaluate

    for r in rows:
        if r.get("lpips") is None and Path(r.get("recon", "")).exists():
            m = evaluate(reference[r["image"]], read_image(r["recon"]), lpips=True)
            r["lpips"] = m["lpips"]


def fmt3(v: float | None) -> str:
    """A metric for a markdown table: 3 decimals, '-' when missing."""
    return "-" if v is None else f"{v:.3f}"


AVIF_SWEEP = (10, 20, 30, 40, 50, 60, 70, 80, 90, 95)


def psnr_at(points: list[tuple[float, float]], bpp: float) -> float | None:
    """PSNR at `bpp` on a (bpp, PSNR) curve, interpolated linearly in log(bpp) between the two
    points that bracket it; None outside the curve."""
    import math

    points = sorted(points)
    for (b0, p0), (b1, p1) in zip(points, points[1:], strict=False):
        if b0 <= bpp <= b1 and b1 > b0:
            t = (math.log(bpp) - math.log(b0)) / (math.log(b1) - math.log(b0))
            return p0 + t * (p1 - p0)
    return None


def avif_psnr_at(image: Image, bpp: float) -> float | None:
    """PSNR of AVIF (Pillow, speed 4, the benchmark grid's baseline) at `bpp` (psnr_at over
    the quality sweep)."""
    from inrcodec.bench.baselines import get_baseline, run_baseline
    from inrcodec.metrics import psnr

    avif = get_baseline("avif")
    points = []
    for q in AVIF_SWEEP:
        res = run_baseline(avif, image, q)
        points.append((8 * len(res.data) / image.num_pixels, psnr(image, res.decoded)))
    return psnr_at(points, bpp)
