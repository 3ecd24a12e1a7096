"""Issue 3 benchmark: kodim23 (768x512) with siren and pe-mlp at COIN's four network sizes.

Records bpp (whole file and payload), PSNR, MS-SSIM (+dB), LPIPS, encode seconds and steps.
COIN's published Kodak means (50k steps on a GPU, 16-bit weights, bpp from parameters only):
5x20 0.074 bpp / 23.21 dB, 10x28 0.307 / 26.41, 10x40 0.611 / 28.41, 13x49 1.209 / 30.64.

    python benchmarks/coin_kodim23.py --steps 150
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    COMPILE,
    KODAK,
    ROOT,
    fill_lpips,
    fmt3,
    load_rows,
    machine_note,
    protocol_images,
    save_recon,
    save_rows,
    today,
)

import inrcodec  # noqa: E402

SIZES = {"5x20": (5, 20), "10x28": (10, 28), "10x40": (10, 40), "13x49": (13, 49)}
COIN = {"5x20": (0.074, 23.21), "10x28": (0.307, 26.41), "10x40": (0.611, 28.41),
        "13x49": (1.209, 30.64)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--codecs", default="siren,pe-mlp")
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--siren-lr", type=float, default=5e-4)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/coin_kodim23")
    ap.add_argument("--compile", default="auto", choices=COMPILE,
                    help="torch.compile the fit phase (auto: the codec decides)")
    a = ap.parse_args()
    cmd = " ".join(["python benchmarks/coin_kodim23.py"] + sys.argv[1:])
    meta = {"image": "kodim23.png 768x512", "date": today(), "command": cmd,
            "machine": machine_note()}
    path = a.out.with_suffix(".json")
    rows = load_rows(path)
    done = {(r["codec"], r["size"], r["steps"]) for r in rows}
    for codec in a.codecs.split(","):
        for size in a.sizes.split(","):
            if (codec, size, a.steps) in done:
                continue
            layers, width = SIZES[size]
            settings = {"layers": layers, "width": width, "steps": a.steps,
                        "compile": COMPILE[a.compile]}
            if codec == "siren":
                settings["lr"] = a.siren_lr
            else:
                settings["skips"] = (layers // 2,)
            r = inrcodec.encode(KODAK / "kodim23.png", codec=codec, device="cpu", lpips=False,
                                **settings)
            row = {"codec": codec, "size": size, "steps": a.steps,
                   "qat_steps": r.log.get("qat_steps", 0), "params": r.log["num_params"],
                   "bytes": len(r), "bpp": r.bpp, "payload_bpp": r.payload_bpp, **r.metrics,
                   "encode_seconds": r.encode_seconds, "settings": r.settings,
                   "weight_bytes": r.log["weight_bytes"],
                   "coin_bpp": COIN[size][0], "coin_psnr": COIN[size][1],
                   "image": "kodim23", "lpips": None,
                   "recon": save_recon(r, f"coin_{codec}_{size}_{a.steps}")}
            print({k: v for k, v in row.items() if k != "settings"}, flush=True)
            rows.append(row)
            save_rows(path, meta, rows)
    try:
        fill_lpips(rows, protocol_images("kodak6", ("kodim23",)))
    except ImportError:
        print("LPIPS not available yet: rerun the same command later to fill it in")
    save_rows(path, meta, rows)
    write_markdown(a.out.with_suffix(".md"), meta, rows)


def write_markdown(path: Path, meta: dict, rows: list[dict]) -> None:
    lines = [f"# COIN sizes on kodim23 ({meta['date']})", "",
             f"Command: `{meta['command']}`  ", f"Machine: {meta['machine']}", "",
             "bpp is the whole .inr file (header and CRC included). COIN's figures are Kodak "
             "means after 50k GPU steps, bpp = 16 x parameters / pixels.", "",
             "| codec | size | params | steps (+QAT) | bpp | payload bpp | PSNR dB | MS-SSIM | "
             "LPIPS | encode s | COIN bpp / dB |", "|" + "---|" * 11]
    for r in rows:
        lines.append(f"| {r['codec']} | {r['size']} | {r['params']} | {r['steps']} "
                     f"(+{r['qat_steps']}) | {r['bpp']:.3f} | {r['payload_bpp']:.3f} | "
                     f"{r['psnr']:.2f} | {r['msssim']:.4f} | {fmt3(r.get('lpips'))}"
                     f" | {r['encode_seconds']:.0f} | {r['coin_bpp']} / {r['coin_psnr']} |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
