"""Issue 3 benchmark: kodim23 (768x512) with siren and pe-mlp at COIN's four network sizes.

Records bpp (whole file and payload), PSNR, MS-SSIM (+dB), LPIPS, encode seconds and steps.
COIN's published Kodak means (50k steps on a GPU, 16-bit weights, bpp from parameters only):
5x20 0.074 bpp / 23.21 dB, 10x28 0.307 / 26.41, 10x40 0.611 / 28.41, 13x49 1.209 / 30.64.

    python benchmarks/coin_kodim23.py --steps 200 --out benchmarks/results/coin_kodim23
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
from pathlib import Path

import torch

import inrcodec

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT.parent / "shared" / "data" / "kodak" / "kodim23.png"
SIZES = {"5x20": (5, 20), "10x28": (10, 28), "10x40": (10, 40), "13x49": (13, 49)}
COIN = {"5x20": (0.074, 23.21), "10x28": (0.307, 26.41), "10x40": (0.611, 28.41),
        "13x49": (1.209, 30.64)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--codecs", default="siren,pe-mlp")
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--siren-lr", type=float, default=5e-4)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/coin_kodim23")
    args = ap.parse_args()
    rows = []
    json_path = args.out.with_suffix(".json")
    if json_path.exists():
        rows = json.loads(json_path.read_text())["rows"]
    done = {(r["codec"], r["size"]) for r in rows}
    for codec in args.codecs.split(","):
        for size in args.sizes.split(","):
            if (codec, size) in done:
                continue
            layers, width = SIZES[size]
            settings = {"layers": layers, "width": width, "steps": args.steps}
            if codec == "siren":
                settings["lr"] = args.siren_lr
            else:
                settings["skips"] = (layers // 2,)
            r = inrcodec.encode(IMAGE, codec=codec, device="cpu", **settings)
            row = {"codec": codec, "size": size, "steps": args.steps, "qat_steps":
                   r.log.get("qat_steps", 0), "params": r.log["num_params"],
                   "bytes": len(r), "bpp": r.bpp, "payload_bpp": r.payload_bpp,
                   **r.metrics, "encode_seconds": r.encode_seconds, "settings": r.settings,
                   "coin_bpp": COIN[size][0], "coin_psnr": COIN[size][1]}
            print(json.dumps({k: v for k, v in row.items() if k != "settings"}), flush=True)
            rows.append(row)
            write(rows, args)
    write(rows, args)


def write(rows: list[dict], args: argparse.Namespace) -> None:
    meta = {"image": "kodim23.png 768x512", "date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()} {torch.get_num_threads()} threads (shared, "
                       "other jobs running)", "torch": torch.__version__,
            "command": f"python benchmarks/coin_kodim23.py --steps {args.steps}"}
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [f"# COIN sizes on kodim23 ({meta['date']})", "",
             f"Command: `{meta['command']}`; machine: {meta['machine']}; torch {meta['torch']}.",
             "bpp is the whole .inr file; COIN's numbers are Kodak means after 50k GPU steps "
             "with bpp from 16-bit parameters.", "",
             "| codec | size | params | steps (+QAT) | bpp | payload bpp | PSNR dB | MS-SSIM | "
             "LPIPS | encode s | COIN bpp / dB |", "|" + "---|" * 11]
    for r in rows:
        lines.append(f"| {r['codec']} | {r['size']} | {r['params']} | {r['steps']} "
                     f"(+{r['qat_steps']}) | {r['bpp']:.3f} | {r['payload_bpp']:.3f} | "
                     f"{r['psnr']:.2f} | {r['msssim']:.4f} | {r['lpips']:.3f} | "
                     f"{r['encode_seconds']:.0f} | {r['coin_bpp']} / {r['coin_psnr']} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
