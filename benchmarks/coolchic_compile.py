"""`coolchic` encodes with and without torch.compile: what compilation costs and saves.

Each encode runs in a fresh process (so that nothing is compiled or cached in memory before
it): `eager` (compile=false); `cold` (compile=true with an empty inductor cache, as the first
encode of an image size on a machine); `warm` (compile=true on the cache the cold run left).
CPU seconds are the child's user + system time, compile workers included. The phases' own
seconds come from the encoder's log. Rows are appended to OUT.jsonl; OUT.md is rewritten.

    python benchmarks/coolchic_compile.py --protocol speed-s1 --itr 2000 --threads 1
    python benchmarks/coolchic_compile.py --report-only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import ROOT, stamp, write_report

OUT = ROOT / "benchmarks" / "results" / "coolchic_compile"
MODES = ("eager", "cold", "warm")

CHILD = """
import json, sys, time, torch
torch.set_num_threads({threads})
import inrcodec
from inrcodec.bench.protocols import protocol_images
images = protocol_images({protocol!r}, {images!r})
img = images[{image!r}]
t = time.perf_counter()
r = inrcodec.encode(img, codec="coolchic", preset={preset!r}, lmbda={lmbda}, iterations={itr},
                    compile={compile}, device="cpu", lpips=False)
wall = time.perf_counter() - t
keys = ("warmup_seconds", "main_seconds", "final_seconds", "compiled")
print("ROW" + json.dumps({{"encode_s": wall, "bpp": r.bpp, "psnr": r.metrics["psnr"],
                          "height": img.height, "width": img.width,
                          **{{k: r.log[k] for k in keys}}}}))
"""


def run(args: argparse.Namespace, image: str, mode: str, cache: Path) -> dict:
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(cache))
    code = CHILD.format(threads=args.threads, protocol=args.protocol,
                        images=tuple(args.images.split(",")) if args.images else None,
                        image=image, preset=args.preset, lmbda=args.lmbda, itr=args.itr,
                        compile=mode != "eager")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        raise SystemExit(f"{image} {mode}: the encode failed\n{p.stderr[-3000:]}")
    row = json.loads(next(line[3:] for line in p.stdout.splitlines() if line.startswith("ROW")))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"image": image, "protocol": args.protocol, "mode": mode, "itr": args.itr,
            "lmbda": args.lmbda, "preset": args.preset, "threads": args.threads,
            "wall_s": wall, "cpu_s": cpu, **row, **stamp()}


def report(rows: list[dict]) -> str:
    lines = ["# `coolchic` with and without torch.compile", "",
             "Written by `benchmarks/coolchic_compile.py` from `coolchic_compile.jsonl`: one "
             "fresh process per encode; CPU s = the process's user + system seconds, compile "
             "workers included; warm-up, main and final = the encoder's phase seconds (wall).",
             "", "| image | size | itr | threads | mode | CPU s | wall s | warm-up s | main s | "
             "final s | bpp | PSNR dB | commit | load avg | date |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['image']} | {r['width']}x{r['height']} | {r['itr']} | {r['threads']} | "
            f"{r['mode']} | {r['cpu_s']:.0f} | {r['wall_s']:.0f} | {r['warmup_seconds']:.0f} | "
            f"{r['main_seconds']:.0f} | {r['final_seconds']:.0f} | {r['bpp']:.4f} | "
            f"{r['psnr']:.2f} | {r['commit']} | {r['load_avg']:.1f} | {r['date']} |")
    lines += ["", "Commands: " + "; ".join(sorted({f"`{r['command']}`" for r in rows}))]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--protocol", default="speed-s1")
    ap.add_argument("--images", default="", help="comma list restricting the protocol")
    ap.add_argument("--itr", type=int, default=2000)
    ap.add_argument("--lmbda", type=float, default=1e-3)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    jsonl = out.with_suffix(".jsonl")
    if not args.report_only:
        sys.path.insert(0, str(ROOT / "src"))
        from inrcodec.bench.protocols import protocol_images

        names = tuple(args.images.split(",")) if args.images else None
        for image in protocol_images(args.protocol, names):
            # an empty cache per image, so that each image's cold run is cold
            with tempfile.TemporaryDirectory(prefix="inductor-cold-") as cache:
                for mode in args.modes.split(","):
                    row = run(args, image, mode, Path(cache))
                    with jsonl.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                    print(f"{image} {mode}: {row['cpu_s']:.0f} CPU s, {row['bpp']:.4f} bpp "
                          f"{row['psnr']:.2f} dB", flush=True)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()] if jsonl.exists() else []
    write_report(out.with_suffix(".md"), report(rows))


if __name__ == "__main__":
    main()
