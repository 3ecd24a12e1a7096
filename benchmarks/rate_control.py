"""How well the rate controls do what they promise (issue 19), on a named protocol:

    python benchmarks/rate_control.py target --protocol kodak6-half --targets 0.25,0.5,1
    python benchmarks/rate_control.py budget --protocol kodak6-half --images kodim01,kodim15 \
        --budgets 30,60,120
    python benchmarks/rate_control.py report

`target`: `encode(target_bpp=X)` with the default codec and preset; records the file's bpp,
|bpp / X - 1|, the tries (proxy and full encodes) and the seconds. `budget`: `encode(budget=S)`;
records the encode's seconds against S and the rate-distortion reached. Each finished encode
is appended to benchmarks/results/rate_control.jsonl (resumable: done rows are skipped);
`report` writes benchmarks/results/rate_control.md from the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from provenance import commit

import inrcodec
from inrcodec.bench.protocols import protocol_images

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "rate_control"


def load(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def base_row(kind: str, a: argparse.Namespace, image: str) -> dict:
    return {"kind": kind, "protocol": a.protocol, "image": image, "codec": a.codec,
            "preset": inrcodec.api.default_preset(a.codec) if a.preset is None else a.preset,
            "threads": torch.get_num_threads(), "load_avg_start": os.getloadavg()[0],
            "command": " ".join(sys.argv), "commit": commit(), "date": time.strftime("%F"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores"}


def run(a: argparse.Namespace) -> None:
    jsonl = a.out.with_suffix(".jsonl")
    rows = load(jsonl)
    images = protocol_images(a.protocol, tuple(a.images.split(",")) if a.images else None)
    values = [float(x) for x in (a.targets if a.mode == "target" else a.budgets).split(",")]
    for value in values:
        for name, image in images.items():
            key = "target_bpp" if a.mode == "target" else "budget_s"
            if any(r["kind"] == a.mode and r["image"] == name and r[key] == value
                   and r["protocol"] == a.protocol and r["codec"] == a.codec for r in rows):
                continue
            row = base_row(a.mode, a, name) | {key: value}
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RuntimeWarning)
                kw = {"target_bpp": value} if a.mode == "target" else {"budget": value}
                r = inrcodec.encode(image, codec=a.codec, preset=a.preset, **kw)
            row |= {"seconds": time.perf_counter() - t0, "encode_seconds": r.encode_seconds,
                    "bpp": r.bpp, "psnr": r.metrics["psnr"], "msssim": r.metrics["msssim"],
                    "lpips": r.metrics["lpips"], "warnings": [str(w.message) for w in caught]}
            if a.mode == "target":
                row |= {"error": r.bpp / value - 1, "tries": r.log["target"]["tries"],
                        "met": r.log["target"]["met"]}
            else:
                row |= {"over": r.encode_seconds / value - 1, "plan": r.log["budget"],
                        "steps_planned": r.log.get("steps")}
            with open(jsonl, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("image", key, "bpp", "psnr", "seconds")}),
                  flush=True)
    report(rows, a.out)


def report(rows: list[dict], out: Path) -> None:
    lines = ["# Rate controls: --target-bpp accuracy and --budget adherence", "",
             f"Rows: `{out.with_suffix('.jsonl').name}` (command, commit, machine and load "
             "in each). Written by `python benchmarks/rate_control.py report`.", ""]
    tgt = [r for r in rows if r["kind"] == "target"]
    if tgt:
        lines += ["## --target-bpp", "",
                  "| protocol | codec | target bpp | images | mean abs error | worst abs error "
                  "| met (+-5 %) | full encodes (mean) | seconds (mean) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for key in sorted({(r["protocol"], r["codec"], r["target_bpp"]) for r in tgt}):
            rs = [r for r in tgt if (r["protocol"], r["codec"], r["target_bpp"]) == key]
            errs = [abs(r["error"]) for r in rs]
            fulls = [sum(not t["proxy"] for t in r["tries"]) for r in rs]
            lines.append(f"| {key[0]} | {key[1]} | {key[2]:g} | {len(rs)} | "
                         f"{100 * statistics.mean(errs):.1f} % | {100 * max(errs):.1f} % | "
                         f"{sum(r['met'] for r in rs)}/{len(rs)} | "
                         f"{statistics.mean(fulls):.1f} | "
                         f"{statistics.mean(r['seconds'] for r in rs):.0f} |")
        lines += ["", "| image | target | bpp | PSNR | tries (proxy/full) | seconds |",
                  "|---|---|---|---|---|---|"]
        for r in sorted(tgt, key=lambda r: (r["target_bpp"], r["image"])):
            n_proxy = sum(t["proxy"] for t in r["tries"])
            lines.append(f"| {r['image']} | {r['target_bpp']:g} | {r['bpp']:.4f} | "
                         f"{r['psnr']:.2f} | {n_proxy}/{len(r['tries']) - n_proxy} | "
                         f"{r['seconds']:.0f} |")
        lines.append("")
    bud = [r for r in rows if r["kind"] == "budget"]
    if bud:
        lines += ["## --budget", "",
                  "| image | codec | budget s | encode s | over budget | bpp | PSNR | "
                  "load at start |", "|---|---|---|---|---|---|---|---|"]
        for r in sorted(bud, key=lambda r: (r["image"], r["budget_s"])):
            lines.append(f"| {r['image']} | {r['codec']} | {r['budget_s']:g} | "
                         f"{r['encode_seconds']:.1f} | {100 * r['over']:+.1f} % | "
                         f"{r['bpp']:.4f} | {r['psnr']:.2f} | {r['load_avg_start']:.1f} |")
        worst = max(r["over"] for r in bud)
        lines += ["", f"Worst: {100 * worst:+.1f} % of the budget.", ""]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("target", "budget", "report"))
    ap.add_argument("--protocol", default="kodak6-half")
    ap.add_argument("--images", default="")
    ap.add_argument("--codec", default=inrcodec.api.DEFAULT_CODEC)
    ap.add_argument("--preset", default=None)
    ap.add_argument("--targets", default="0.25,0.5,1")
    ap.add_argument("--budgets", default="30,60,120")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    if a.mode == "report":
        report(load(a.out.with_suffix(".jsonl")), a.out)
    else:
        run(a)


if __name__ == "__main__":
    main()
