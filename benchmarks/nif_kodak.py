"""Issue 5 benchmark: NIF rate presets on a Kodak protocol; bpp, PSNR, MS-SSIM, LPIPS, seconds.

NIF's published Kodak means (bpp / PSNR / MS-SSIM): 0.277/28.32/0.926, 0.577/30.94/0.959,
0.969/33.22/0.976, 1.629/35.62/0.986, 2.605/38.00/0.992, 4.028/40.45/0.995 (GPU, full recipe).

    python benchmarks/nif_kodak.py --protocol kodak6-half --presets 120,280 --schedule fast
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import (  # noqa: E402
    COMPILE,
    ROOT,
    avif_psnr_at,
    fill_lpips,
    fmt3,
    load_rows,
    machine_note,
    protocol_images,
    psnr_at,
    save_recon,
    save_rows,
    today,
)

import inrcodec  # noqa: E402

FULL_SIZE = ("kodak6", "kodak24")
PUBLISHED = [(0.277, 28.32, 0.926), (0.577, 30.94, 0.959), (0.969, 33.22, 0.976),
             (1.629, 35.62, 0.986), (2.605, 38.00, 0.992), (4.028, 40.45, 0.995)]
SCHEDULES = {"fast": {"steps": 400, "rounds": 4, "qat_steps": 80, "qat_rounds": 2},
             "paper": {}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", default="kodak6-half")
    ap.add_argument("--presets", default="120,280")
    ap.add_argument("--schedule", default="fast", choices=SCHEDULES)
    ap.add_argument("--loss", default="lcssim")
    ap.add_argument("--images", default="", help="comma list to restrict the protocol")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/nif_kodak")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fill-only", action="store_true",
                    help="encode nothing: fill missing LPIPS / AVIF columns, rewrite the report")
    ap.add_argument("--compile", default="auto", choices=COMPILE,
                    help="torch.compile the fit phase (auto: the codec decides)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    images = protocol_images(a.protocol)
    if a.images:
        images = {k: v for k, v in images.items() if k in a.images.split(",")}
    cmd = " ".join(["python benchmarks/nif_kodak.py"] + sys.argv[1:])
    meta = {"protocol": a.protocol, "schedule": a.schedule, "loss": a.loss, "date": today(),
            "compile": a.compile,
            "machine": machine_note(), "command": cmd}
    path = a.out.with_suffix(".json")
    rows = load_rows(path)
    if a.fill_only and path.exists():  # the rows' provenance stays that of their run
        meta = json.loads(path.read_text())["meta"]
    done = {(r["image"], r["preset"], r["schedule"], r["protocol"]) for r in rows}
    for preset in a.presets.split(","):
        for name, image in images.items():
            if a.fill_only or (name, preset, a.schedule, a.protocol) in done:
                continue
            r = inrcodec.encode(image, codec="nif", preset=preset, loss=a.loss, device="cpu",
                                lpips=False, compile=COMPILE[a.compile],
                                **SCHEDULES[a.schedule])
            row = {"image": name, "preset": preset, "schedule": a.schedule,
                   "protocol": a.protocol, "bpp": r.bpp, "payload_bpp": r.payload_bpp,
                   **r.metrics, "encode_seconds": r.encode_seconds,
                   "fit_steps": r.log["fit_steps"], "qat_steps": r.log.get("qat_steps", 0),
                   "weight_coder": r.log["weight_coder"], "weight_bytes": r.log["weight_bytes"],
                   "lpips": None, "command": cmd, "threads": a.threads,
                   "load_avg_1min": os.getloadavg()[0],
                   "recon": save_recon(r, f"nif_{a.protocol}_{preset}_{a.schedule}_{name}")}
            print(row, flush=True)
            rows.append(row)
            save_rows(path, meta, rows)
    try:
        fill_lpips(rows, protocol_images(a.protocol))
    except ImportError:
        print("LPIPS not available yet: rerun the same command later to fill it in")
    for r in rows:  # the classical reference on the same image at the same rate
        if r.get("avif_psnr_same_bpp") is None and r["image"] in images:
            r["avif_psnr_same_bpp"] = avif_psnr_at(images[r["image"]], r["bpp"])
        if r["protocol"] in FULL_SIZE:  # the published mean curve is for full-size Kodak
            r["published_psnr_same_bpp"] = psnr_at([(b, q) for b, q, _ in PUBLISHED],
                                                   r["bpp"])
    save_rows(path, meta, rows)
    write_markdown(a.out.with_suffix(".md"), meta, rows)


def write_markdown(path: Path, meta: dict, rows: list[dict]) -> None:
    lines = [f"# NIF on {meta['protocol']} ({meta['date']})", "",
             f"Command: `{meta['command']}`  ", f"Machine: {meta['machine']}  ",
             f"Loss: {meta['loss']}; schedule `{meta['schedule']}` (see SCHEDULES in the "
             "script; `paper` = 10x150 fit + 5x40 QAT steps).", "",
             "## Means per preset", "",
             "| preset | schedule | images | bpp | PSNR dB | AVIF PSNR at same bpp | MS-SSIM | "
             "LPIPS | encode s | brotli wins |", "|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["preset"], r["schedule"], r["protocol"]), []).append(r)
    for (preset, sched, _), g in sorted(groups.items(), key=lambda kv: int(kv[0][0])):
        m = {k: statistics.mean(r[k] if r[k] is not None else float("nan") for r in g)
             for k in ("bpp", "psnr", "msssim", "lpips", "encode_seconds")}
        m["avif"] = statistics.mean(r.get("avif_psnr_same_bpp") or float("nan") for r in g)
        brotli = sum(r["weight_coder"] == "brotli" for r in g)
        lines.append(f"| {preset} | {sched} | {len(g)} | {m['bpp']:.3f} | {m['psnr']:.2f} | "
                     f"{m['avif']:.2f} | {m['msssim']:.4f} | {m['lpips']:.3f} | "
                     f"{m['encode_seconds']:.0f} | "
                     f"{brotli}/{len(g)} |")
    lines += ["", "AVIF: Pillow, speed 4, 4:4:4 (the benchmark grid's baseline), PSNR interpolated "
              "in log(bpp) at each image's NIF bpp. ", "",
              "Published NIF Kodak means (full-size Kodak, GPU, paper recipe): " +
              ", ".join(f"{b} bpp / {p} dB / {s}" for b, p, s in PUBLISHED), "",
              "## Per image", "",
              "Published PSNR: that mean curve interpolated in log(bpp) at the row's bpp, given "
              "for full-size protocols only (half-size images cost ~4x the bpp for the same "
              "network, so the curve does not apply to them).", "",
              "| image | protocol | preset | schedule | bpp | PSNR | AVIF PSNR | published "
              "PSNR | MS-SSIM | LPIPS | s | laplace-range B | brotli B |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        wb = r["weight_bytes"]
        lines.append(f"| {r['image']} | {r['protocol']} | {r['preset']} | {r['schedule']} | "
                     f"{r['bpp']:.3f} | {r['psnr']:.2f} | "
                     f"{fmt3(r.get('avif_psnr_same_bpp'))} | "
                     f"{fmt3(r.get('published_psnr_same_bpp'))} | {r['msssim']:.4f} | "
                     f"{fmt3(r['lpips'])} | {r['encode_seconds']:.0f} | "
                     f"{wb.get('laplace-range', '-')} | {wb['brotli']} |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
