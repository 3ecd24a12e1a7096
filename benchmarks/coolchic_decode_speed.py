"""Issue 16, target 4: decoding a 768x512 `coolchic` file on one core, per decoder config
(lop / mop <= 0.3 s, hop <= 0.6 s).

The process pins itself to one core before numpy and torch load (so OpenBLAS and torch each
run one thread there) and decodes each file `--repeats` times after one warm decode (the first
decode in a process also pays for imports and table building: recorded apart). The files come
from short encodes of kodim01 (decoding cost depends on the image size and the model, not on
how long it trained) and are cached in `--work`. Per decode: wall and CPU seconds, and the
latent stage alone (the fixed-point ARM + IFCE and the range decoder); the rest is the float64
upsampling and synthesis. Rows are appended to benchmarks/results/coolchic_decode_speed.jsonl.

    python benchmarks/coolchic_decode_speed.py --configs lop,mop,hop,vhop
    python benchmarks/coolchic_decode_speed.py --report-only
"""

from __future__ import annotations

import argparse
import os
import sys

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--configs", default="lop,mop,hop,vhop")
ap.add_argument("--image", default="kodim01")
ap.add_argument("--repeats", type=int, default=7)
ap.add_argument("--core", type=int, default=0, help="the CPU to pin the process to")
ap.add_argument("--work", default="/tmp/inrcodec-decode-speed", help="cache of encoded files")
ap.add_argument("--report-only", action="store_true")
args = ap.parse_args()
if not args.report_only:  # before numpy and torch load: their thread pools size to this
    os.sched_setaffinity(0, {args.core})

import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from provenance import ROOT, stamp  # noqa: E402

import inrcodec  # noqa: E402
from inrcodec.bench.protocols import protocol_images  # noqa: E402
from inrcodec.codecs.coolchic.five import codec as five  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "coolchic_decode_speed"
TARGETS = {"lop": 0.3, "mop": 0.3, "hop": 0.6}


def encoded(config: str) -> bytes:
    path = Path(args.work) / f"{args.image}-{config}.inr"
    if not path.exists():
        img = protocol_images("kodak6", (args.image,))[args.image]
        r = inrcodec.encode(img, codec="coolchic", lmbda=1e-3, iterations=100, decoder=config,
                            rdoq=False, device="cpu", metrics=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(r))
    return path.read_bytes()


def measure(config: str) -> dict:
    data = encoded(config)
    latent: list[float] = []
    original = five.decode_grids

    def timed(*a, **k):
        t = time.process_time()
        out = original(*a, **k)
        latent.append(time.process_time() - t)
        return out

    five.decode_grids = timed
    try:
        t0 = time.perf_counter()
        first = inrcodec.decode(data, device="cpu")
        first_s = time.perf_counter() - t0
        wall, cpu = [], []
        for _ in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            again = inrcodec.decode(data, device="cpu")
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            if not torch.equal(again.data, first.data):
                raise SystemExit(f"{config}: two decodes differ")
    finally:
        five.decode_grids = original
    info = inrcodec.info(data)
    return {"config": config, "image": f"{args.image} {first.width}x{first.height}",
            "bytes": len(data), "macs_per_pixel": info.get("macs_per_pixel"),
            "first_decode_wall_s": first_s, "wall_s_min": min(wall),
            "wall_s_median": statistics.median(wall), "cpu_s_min": min(cpu),
            "cpu_s_median": statistics.median(cpu), "latent_cpu_s_min": min(latent[1:]),
            "repeats": args.repeats, "target_s": TARGETS.get(config), "threads": 1,
            "pinned_core": args.core, **stamp()}


def report(rows: list[dict]) -> None:
    lines = ["# Decoding 768x512 `coolchic` files on one core (issue 16, target 4)", "",
             "Command: `python benchmarks/coolchic_decode_speed.py` (one process pinned to one "
             "core; one warm decode, then the minimum and median of the repeats). Latent: the "
             "fixed-point ARM + IFCE and range decoding; the rest is the float64 upsampling "
             "and synthesis. The machine is shared: the load average is the 1-minute one at "
             "the row's start, and rows measured together are the ones to compare.", "",
             "| commit | date | config | bytes | wall s min | wall s median | CPU s min | "
             "latent CPU s | first decode s | target s | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["target_s"]
        lines.append(
            f"| {r['commit']} | {r['date']} | {r['config']} | {r['bytes']} | "
            f"{r['wall_s_min']:.3f} | {r['wall_s_median']:.3f} | {r['cpu_s_min']:.3f} | "
            f"{r['latent_cpu_s_min']:.3f} | {r['first_decode_wall_s']:.2f} | "
            f"{'-' if t is None else t} | {r['load_avg']:.1f} |")
    OUT.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    jsonl = OUT.with_suffix(".jsonl")
    if not args.report_only:
        torch.set_num_threads(1)
        for config in args.configs.split(","):
            row = measure(config)
            print(json.dumps(row), flush=True)
            with open(jsonl, "a") as fh:
                fh.write(json.dumps(row) + "\n")
    rows = [json.loads(x) for x in jsonl.read_text().splitlines() if x.strip()]
    report(rows)


if __name__ == "__main__":
    sys.exit(main())
