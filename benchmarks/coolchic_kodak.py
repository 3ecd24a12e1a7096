"""Issue 4 benchmark: Cool-chic v1/v2 rate-distortion on a Kodak protocol, against AVIF and the
published Cool-chic curves; bpp, PSNR, MS-SSIM, LPIPS, encode and decode seconds per image.

Published Kodak curves (768x512, ~10k GPU steps): `coolchic_published.py`; on the
kodak6 protocol the report adds BD-rates against them on the same images.

    python benchmarks/coolchic_kodak.py --protocol kodak6-half --codecs coolchic-v2 \
        --lmbdas 1e-3,4e-3,2e-2 --images kodim01,kodim23 --preset fast
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import (  # noqa: E402
    ROOT,
    fill_lpips,
    load_rows,
    machine_note,
    protocol_images,
    save_recon,
    save_rows,
    today,
)
from coolchic_published import MEANS, PER_IMAGE  # noqa: E402

import inrcodec  # noqa: E402
from inrcodec.bench.baselines import get_baseline, run_baseline  # noqa: E402
from inrcodec.bench.bdrate import bd  # noqa: E402
from inrcodec.metrics import evaluate  # noqa: E402

AVIF_QUALITIES = (10, 20, 30, 40, 50, 60, 70, 80, 90)


def merged(rows: list[dict], others: list[Path]) -> list[dict]:
    """rows plus the rows of other result files that are not already there (same codec,
    image, lambda or quality)."""
    def key(r: dict) -> tuple:
        return r["codec"], r["image"], r.get("lmbda"), r.get("quality")

    keys = {key(r) for r in rows}
    for other in others:
        new = [r for r in load_rows(other) if key(r) not in keys]
        rows += new
        keys |= {key(r) for r in new}
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", default="kodak6-half")
    ap.add_argument("--codecs", default="coolchic-v2,coolchic-v1")
    ap.add_argument("--lmbdas", default="1e-3,4e-3,2e-2")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--loss", default="mse")
    ap.add_argument("--images", default="", help="comma list to restrict the protocol")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--crop", default="", help="left,top,right,bottom applied to every image "
                    "(e.g. 64,64,192,192 as the quick grid); recorded in the protocol name")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/coolchic_kodak")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--merge", type=Path, action="append", default=[],
                    help="add the rows of another result JSON (runs split over processes)")
    ap.add_argument("--extra", default="{}", help="JSON dict of extra codec settings")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.report_only:  # rewrite the markdown of a stored run (its own meta)
        path = a.out.with_suffix(".json")
        if not path.exists():
            sys.exit(f"error: no results to report at {path}")
        rows = merged(load_rows(path), a.merge)
        meta = json.loads(path.read_text())["meta"]
        if a.merge:  # the merged rows are kept in the JSON too
            save_rows(path, meta, rows)
        write_markdown(a.out.with_suffix(".md"), meta, rows)
        return
    images = protocol_images(a.protocol)
    if a.images:
        images = {k: v for k, v in images.items() if k in a.images.split(",")}
    if a.crop:
        x0, y0, x1, y1 = (int(v) for v in a.crop.split(","))
        images = {k: v.with_data(v.data[:, y0:y1, x0:x1].contiguous())
                  for k, v in images.items()}
        a.protocol = f"{a.protocol}-crop{x0},{y0},{x1},{y1}"
    cmd = " ".join(["python benchmarks/coolchic_kodak.py"] + sys.argv[1:])
    path = a.out.with_suffix(".json")
    rows = merged(load_rows(path), a.merge)
    meta = {"protocol": a.protocol, "date": today(), "command": cmd,
            "machine": machine_note()}
    done = {(r["codec"], r["image"], r.get("lmbda"), r.get("quality"), r["protocol"],
             r.get("preset")) for r in rows}
    for name, image in images.items():  # AVIF first: seconds
        for q in AVIF_QUALITIES:
            if ("avif", name, None, q, a.protocol, None) in done:
                continue
            res = run_baseline(get_baseline("avif"), image, q)
            m = evaluate(image, res.decoded, lpips=True)
            rows.append({"codec": "avif", "image": name, "quality": q,
                         "protocol": a.protocol, "bpp": 8 * len(res.data) / image.num_pixels,
                         **m, "encode_seconds": res.encode_seconds,
                         "decode_seconds": res.decode_seconds})
        save_rows(path, meta, rows)
    for codec in a.codecs.split(","):
        for name, image in images.items():  # image-major: whole curves first
            for lmbda in (float(v) for v in a.lmbdas.split(",")):
                if (codec, name, lmbda, None, a.protocol, a.preset) in done:
                    continue
                load = os.getloadavg()[0]
                r = inrcodec.encode(image, codec=codec, preset=a.preset, loss=a.loss,
                                    lmbda=lmbda, device="cpu", lpips=False,
                                    **json.loads(a.extra))
                t = time.perf_counter()
                decoded = inrcodec.decode(bytes(r), device="cpu")
                dec_s = time.perf_counter() - t
                assert torch.equal(decoded.data, r.reconstruction.quantized().data)
                row = {"codec": codec, "image": name, "lmbda": lmbda, "preset": a.preset,
                       "loss": a.loss, "protocol": a.protocol, "bpp": r.bpp, **r.metrics,
                       "lpips": None, "encode_seconds": r.encode_seconds,
                       "decode_seconds": dec_s, "steps": r.log["steps"],
                       "section_bytes": r.log["section_bytes"],
                       "macs_per_pixel": r.log["macs_per_pixel"], "load_avg_1min": load,
                       "recon": save_recon(r, f"{codec}_{a.protocol}_{a.preset}_{lmbda:g}_"
                                              f"{name}")}
                print({k: v for k, v in row.items() if k != "recon"}, flush=True)
                rows.append(row)
                save_rows(path, meta, rows)
    fill_lpips(rows, images)
    save_rows(path, meta, rows)
    write_markdown(a.out.with_suffix(".md"), meta, rows)


def _curves(rows: list[dict], codec: str) -> dict[str, tuple[list[float], list[float]]]:
    out: dict[str, tuple[list[float], list[float]]] = {}
    for r in rows:
        if r["codec"] == codec:
            rr, qq = out.setdefault(r["image"], ([], []))
            rr.append(r["bpp"])
            qq.append(r["psnr"])
    return out


def _published_bd(rows: list[dict]) -> list[str]:
    """BD-rate of each codec against the published per-image curves of the same images."""
    lines = ["", "## BD-rate (PSNR) against the published curves, same images, full size", "",
             "Published: Orange's per-image Kodak tables (`coolchic_published.py`), ~10k GPU "
             "steps. The integral spans the PSNR range both curves cover, i.e. ours.", "",
             "| codec | against | images | BD-rate % | BD-PSNR dB | per image |",
             "|---|---|---|---|---|---|"]
    for label, (codec, curves) in PER_IMAGE.items():
        anchor = {im: ([b for _, b, _ in pts], [q for _, _, q in pts])
                  for im, pts in curves.items()}
        cells = _bd_cells(anchor, _curves(rows, codec))
        if cells:
            lines.append(f"| {codec} | {label} | {cells} |")
    return lines


def _bd_cells(anchor: dict, test: dict) -> str:
    """'images | mean BD-rate | mean BD-PSNR | per image' over the images both have, or ''."""
    res = {im: bd(*anchor[im], *test[im]) for im in test
           if im in anchor and len(test[im][0]) > 1}
    vals = [v.bd_rate for v in res.values() if v.bd_rate == v.bd_rate]
    dps = [v.bd_metric for v in res.values() if v.bd_metric == v.bd_metric]
    per = ", ".join(f"{im} {v.bd_rate:+.1f}%" for im, v in sorted(res.items()))
    if not vals:
        return ""
    return (f"{len(vals)} | {statistics.mean(vals):+.1f} | {statistics.mean(dps):+.2f} | "
            f"{per}")


def write_markdown(path: Path, meta: dict, rows: list[dict]) -> None:
    lines = [f"# Cool-chic on {meta['protocol']} ({meta['date']})", "",
             f"Command: `{meta['command']}`  ", f"Machine: {meta['machine']}  ",
             "Decode seconds include reading the container, range decoding the latents and "
             "the float64 synthesis. LPIPS: AlexNet v0.1.", "",
             "## Means per codec and lambda", "",
             "| codec | preset | lambda | images | bpp | PSNR dB | MS-SSIM | LPIPS | encode s | "
             "decode s | steps (warmup+fit+ste) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["codec"] != "avif":
            groups.setdefault((r["codec"], r["preset"], r["lmbda"]), []).append(r)
    for (codec, preset, lmbda), g in sorted(groups.items()):
        m = {k: statistics.mean(float("nan") if r.get(k) is None else r[k] for r in g)
             for k in ("bpp", "psnr", "msssim", "lpips", "encode_seconds", "decode_seconds")}
        st = g[0]["steps"]
        lines.append(f"| {codec} | {preset} | {lmbda:g} | {len(g)} | {m['bpp']:.3f} | "
                     f"{m['psnr']:.2f} | {m['msssim']:.4f} | {m['lpips']:.3f} | "
                     f"{m['encode_seconds']:.0f} | {m['decode_seconds']:.2f} | "
                     f"{st['warmup']}+{st['fit']}+{st['ste']} |")
    lines += ["", "## BD-rate (PSNR) against AVIF (Pillow, speed 4), per image, then mean", "",
              "Negative: fewer bits than AVIF at equal PSNR. Only images with every codec's "
              "curve are compared.", "", "| codec | images | BD-rate % | BD-PSNR dB | "
              "per image |", "|---|---|---|---|---|"]
    avif = _curves(rows, "avif")
    for codec in sorted({r["codec"] for r in rows} - {"avif"}):
        cells = _bd_cells(avif, _curves(rows, codec))
        if cells:
            lines.append(f"| {codec} | {cells} |")
    if meta["protocol"] == "kodak6":  # the published per-image curves are full size
        lines += _published_bd(rows)
    lines += ["", "## Published means (Kodak 24, full size, ~10k GPU steps)", ""]
    if meta["protocol"] != "kodak6":
        lines += ["Not the same images or resolution as above (kodak6-half images have more "
                  "detail per pixel, so they cost more bpp at equal PSNR): a reference, not a "
                  "BD-rate.", ""]
    for codec, p in MEANS.items():
        lines.append(f"- {p['label']} ({codec}): " + ", ".join(
            f"lambda {lm:g} {b}/{q}" for lm, b, q in p["points"]))
    lines += ["", "## Per image", "", "| codec | image | lambda / quality | bpp | PSNR | MS-SSIM "
              "| LPIPS | encode s | decode s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        knob = f"{r['lmbda']:g}" if r["codec"] != "avif" else f"q{r['quality']}"
        lp = "-" if r.get("lpips") is None else f"{r['lpips']:.3f}"
        lines.append(f"| {r['codec']} | {r['image']} | {knob} | {r['bpp']:.3f} | "
                     f"{r['psnr']:.2f} | {r['msssim']:.4f} | {lp} | {r['encode_seconds']:.1f} "
                     f"| {r['decode_seconds']:.2f} |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
