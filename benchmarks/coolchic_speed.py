"""Issue 4 speed benchmark, protocol speed-s1: kodim01 cropped to (0, 0, 256, 256), lambda 1e-3,
2000 training steps, 2 threads; seconds per step, total encode seconds, decode seconds, peak
memory, bpp and PSNR. Part A times the training step of several variants (ratios within one
run, same process, same load); part B runs the whole encode.

Reference (issue 4): Orange's Cool-chic 5.0.1 ("lop" synthesis, ~500 MAC/pixel) took about
0.09 s per step on this image size on 2 cores.

    python benchmarks/coolchic_speed.py            # both parts
    python benchmarks/coolchic_speed.py --part a   # step timings only
    python benchmarks/coolchic_speed.py --part d   # full-size (768x512) decode time
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

import inrcodec
from inrcodec.bench.protocols import protocol_images
from inrcodec.codecs.coolchic import CoolChicV2
from inrcodec.codecs.coolchic.model import CoolChicModel
from inrcodec.codecs.coolchic.train import (
    clipped_step,
    compile_objective,
    make_optimizer,
    objective,
)
from inrcodec.losses import parse_loss

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks/results/coolchic_speed"


def machine_note() -> str:
    """The machine, the software and the load on these shared cores when the run starts."""
    return (f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch "
            f"{torch.__version__}, inrcodec {inrcodec.__version__} (2 shared cores, load "
            f"average {os.getloadavg()[0]:.1f} at the start)")


def image():
    """Protocol speed-s1: kodim01 cropped to (0, 0, 256, 256)."""
    return protocol_images("speed-s1")["kodim01"]


def time_steps(preset: str, threads: int, compiled: bool = False, bf16: bool = False,
               n: int = 40) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    img = image()
    target = img.data.unsqueeze(0)
    s = CoolChicV2.make_settings(preset, lmbda=1e-3)
    model = CoolChicModel(s, 256, 256, 3)
    opt = make_optimizer(model, s.lr, s.upsampling_lr_scale)  # the codec's optimiser
    loss = parse_loss("mse")
    temp, noise = torch.tensor(0.3), torch.tensor(s.noise[0])

    def step_objective(temp: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        # the codec's own training objective (softround proxy, s.noise_type noise)
        return objective(model, loss, target, s, "softround", temperature=temp, noise=noise,
                         bf16=bf16)[0]

    fn = compile_objective(step_objective) if compiled else step_objective

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        fn(temp, noise).backward()
        clipped_step(opt, s.grad_clip)  # the codec's step, gradient clipping included

    t = time.perf_counter()
    for _ in range(3):
        step()
    warm = time.perf_counter() - t
    load = os.getloadavg()[0]
    chunks = []  # blocks of 10 steps: the best block is the least disturbed by other load
    for i in range(n):
        if i % 10 == 0:
            chunks.append(time.perf_counter())
        temp.fill_(0.3 - 0.2 * i / n)
        step()
    chunks.append(time.perf_counter())
    blocks = [(b - a) / 10 for a, b in zip(chunks[:-1], chunks[1:], strict=True)]
    return {"preset": preset, "threads": threads, "compile": compiled, "bf16": bf16, "steps": n,
            "ms_per_step": 1000 * (chunks[-1] - chunks[0]) / n,
            "ms_per_step_best10": 1000 * min(blocks), "first_3_steps_s": warm,
            "load_avg_1min": load, "macs_per_pixel": round(model.macs_per_pixel(), 1)}


def part_a() -> list[dict]:
    rows = []
    for kw in ({"preset": "lop", "threads": 2}, {"preset": "lop", "threads": 1},
               {"preset": "lop", "threads": 2, "bf16": True},
               {"preset": "lop", "threads": 1, "bf16": True},
               {"preset": "default", "threads": 2}, {"preset": "default", "threads": 1},
               {"preset": "lop", "threads": 2, "compiled": True},
               {"preset": "lop", "threads": 2, "compiled": True, "bf16": True},
               {"preset": "lop", "threads": 1, "compiled": True, "bf16": True}):
        row = time_steps(**kw)
        print(row, flush=True)
        rows.append(row)
    return rows


def inductor_cache_state() -> str:
    """'cold' when inductor's cache directory holds no compiled code yet, else 'warm'."""
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    d = Path(cache_dir())
    return "warm" if d.exists() and any(d.rglob("*.so")) else "cold"


def part_b(preset: str, threads: int, compiled: bool, bf16: bool) -> dict:
    torch.set_num_threads(threads)
    cache = inductor_cache_state() if compiled else None
    img = image()
    load = os.getloadavg()[0]
    stamps: list[float] = []  # the end of each fit step: steady-state step time, compile time

    def progress(p) -> None:
        if p.phase == "fit":
            stamps.append(time.perf_counter())

    t0 = time.perf_counter()
    r = inrcodec.encode(img, codec="coolchic-v2", preset=preset, lmbda=1e-3, steps=1800,
                        ste_steps=200, warmup_candidates=1, device="cpu", lpips=True,
                        compile=compiled, bf16=bf16, progress=progress)
    gaps = [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]
    t = time.perf_counter()
    inrcodec.decode(bytes(r), device="cpu")
    dec = time.perf_counter() - t
    train_s = r.log["fit_seconds"] + r.log["ste_seconds"]
    row = {"preset": preset, "threads": threads, "compile": compiled, "bf16": bf16,
           "inductor_cache": cache, "steps": 2000,
           "s_per_step": train_s / 2000, "fit_seconds": r.log["fit_seconds"],
           "fit_first_step_s": stamps[0] - t0,  # compilation included
           "fit_ms_per_step_median": 1000 * statistics.median(gaps[100:]),
           "ste_seconds": r.log["ste_seconds"],
           "encode_seconds": r.encode_seconds, "decode_seconds": dec,
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "bpp": r.bpp, "psnr": r.metrics["psnr"], "msssim": r.metrics["msssim"],
           "lpips": r.metrics.get("lpips"), "macs_per_pixel": r.log["macs_per_pixel"],
           "load_avg_1min_start": load, "load_avg_1min_end": os.getloadavg()[0]}
    print(row, flush=True)
    return row


def part_d(codec: str) -> dict:
    """Decode time of a full-size Kodak image (768x512). The file comes from a short training
    (decoding cost depends on the image size and the model, not on how long it trained)."""
    from inrcodec.codecs.coolchic import codec as cc

    torch.set_num_threads(1)
    img = protocol_images("kodak6", ("kodim01",))["kodim01"]
    r = inrcodec.encode(img, codec=codec, preset="fast", lmbda=1e-3, steps=60, ste_steps=10,
                        warmup_candidates=1, device="cpu", metrics=False)
    spent = {"latents": []}
    original = cc.decode_latents

    def timed(*args, **kwargs):
        t = time.perf_counter()
        out = original(*args, **kwargs)
        spent["latents"].append(time.perf_counter() - t)
        return out

    cc.decode_latents = timed
    totals = []
    for _ in range(3):
        t = time.perf_counter()
        inrcodec.decode(bytes(r), device="cpu")
        totals.append(time.perf_counter() - t)
    cc.decode_latents = original
    row = {"codec": codec, "image": "kodim01 768x512", "threads": 1, "bytes": len(r),
           "decode_seconds_min": min(totals), "decode_seconds_all": totals,
           "latent_decode_seconds_min": min(spent["latents"]),
           "load_avg_1min": os.getloadavg()[0]}
    print(row, flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", default="ab", help="a (step timings), b (whole encode), "
                    "d (full-size decode), or several, e.g. ab")
    ap.add_argument("--preset", default="lop")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="part b: torch.compile the fit")
    ap.add_argument("--bf16", action="store_true", help="part b: bf16 autocast in the fit")
    a = ap.parse_args()
    path = OUT.with_suffix(".json")
    old = json.loads(path.read_text()) if path.exists() else {}
    res = {"meta": {"protocol": "speed-s1", "date": datetime.date.today().isoformat(),
                    "machine": machine_note(),
                    "command": " ".join(["python benchmarks/coolchic_speed.py"] + sys.argv[1:])},
           "steps": old.get("steps", []), "encode": old.get("encode", []),
           "decode": old.get("decode", [])}
    if "a" in a.part:
        res["steps"] = part_a()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=1))
    if "b" in a.part:
        res["encode"] = res["encode"] + [part_b(a.preset, a.threads, a.compile, a.bf16)]
        path.write_text(json.dumps(res, indent=1))
    if "d" in a.part:
        res["decode"] = [part_d("coolchic-v2"), part_d("coolchic-v1")]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=1))
    write_markdown(res)


def write_markdown(res: dict) -> None:
    m = res["meta"]
    lines = [f"# Cool-chic v2 training speed, protocol speed-s1 ({m['date']})", "",
             f"Command: `{m['command']}`  ", f"Machine: {m['machine']}", "",
             "## Part A: one training step (forward + backward + Adam), 256x256, lambda 1e-3", "",
             "ms/step: mean over 40 steps; best 10: the fastest block of 10 of them.", "",
             "| preset | MAC/pixel | threads | torch.compile | bf16 autocast | ms/step | "
             "best 10 | first 3 steps s | load avg |", "|---|---|---|---|---|---|---|---|---|"]
    for r in res["steps"]:
        best = r.get("ms_per_step_best10")
        lines.append(f"| {r['preset']} | {r['macs_per_pixel']:.0f} | {r['threads']} | "
                     f"{r['compile']} | {r['bf16']} | {r['ms_per_step']:.1f} | "
                     f"{'-' if best is None else f'{best:.1f}'} | "
                     f"{r['first_3_steps_s']:.1f} | {r['load_avg_1min']:.1f} |")
    lines += ["", "## Part B: whole encode (1800 fit + 200 STE steps, no warm-up), then decode",
              "", "s/step = (fit + STE seconds) / 2000; with torch.compile the fit seconds include "
              "the compilation. Inductor cache: cold = emptied before the run (a first encode), "
              "warm = the same graphs compiled by an earlier run (later encodes of that size). "
              "fit median: the median fit step of the encoder's own loop after its first 100 "
              "steps; first step: seconds to the end of the first fit step.", "",
              "| preset | MAC/pixel | threads | compile (cache) | bf16 | s/step | fit median ms | "
              "first step s | encode s | decode s | peak RSS MiB | bpp | PSNR dB | MS-SSIM | "
              "LPIPS | load avg start/end |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["encode"]:
        comp = f"{r.get('compile', False)}" + (f" ({r['inductor_cache']})"
                                              if r.get("inductor_cache") else "")
        med, first = r.get("fit_ms_per_step_median"), r.get("fit_first_step_s")
        lines.append(f"| {r['preset']} | {r['macs_per_pixel']:.0f} | {r['threads']} | "
                     f"{comp} | {r.get('bf16', False)} | "
                     f"{r['s_per_step']:.3f} | {'-' if med is None else f'{med:.1f}'} | "
                     f"{'-' if first is None else f'{first:.1f}'} | {r['encode_seconds']:.0f} | "
                     f"{r['decode_seconds']:.2f} | {r['peak_rss_mib']:.0f} | {r['bpp']:.3f} | "
                     f"{r['psnr']:.2f} | {r['msssim']:.4f} | {r['lpips']:.3f} | "
                     f"{r['load_avg_1min_start']:.1f}/{r['load_avg_1min_end']:.1f} |")
    lines += ["", "## Part D: decoding a full-size Kodak image (768x512), 1 thread", "",
              "The file comes from a short training (60 + 10 steps): decoding cost depends on "
              "the size and the model, not on the training. Latent decoding (fixed-point ARM + "
              "range decoder, wave by wave) is timed separately; the rest is the float64 "
              "upsampling and synthesis.", "",
              "| codec | bytes | decode s (min of 3) | of which latents s | load avg |",
              "|---|---|---|---|---|"]
    for r in res.get("decode", []):
        lines.append(f"| {r['codec']} | {r['bytes']} | {r['decode_seconds_min']:.2f} | "
                     f"{r['latent_decode_seconds_min']:.2f} | {r['load_avg_1min']:.1f} |")
    OUT.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
