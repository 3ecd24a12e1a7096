"""The decoder's default limits (inrcodec.coding.limits): what every preset costs at 768x512,
and how long the costliest accepted files take to decode and how much memory they use.

    python benchmarks/decode_limits.py                      # costs of every preset (no decode)
    python benchmarks/decode_limits.py --decode             # + decode the cases in DECODES
    python benchmarks/decode_limits.py --decode --cases nif-680

Files are synthetic but real: an untrained network (or Cool-chic model with random latents)
quantised and entropy-coded exactly as the encoder does, so the decoder's work is the work of
a trained file of the same configuration. Each decode runs in a fresh subprocess (one torch
thread) that first decodes a 16x16 file of the same model (so that the code is paged in), then
reports the decode's wall time and the growth of its peak RSS over what it held before; twice:
with glibc's default malloc (whose dynamic mmap threshold keeps freed blocks of tens of MB in
the heap, so the RSS peak exceeds the live bytes) and with MALLOC_MMAP_THRESHOLD_=131072
(every large block its own mapping: the RSS peak is the live peak, which the cost estimates).
Writes benchmarks/results/decode_limits.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from provenance import commit

from inrcodec import api
from inrcodec.codecs.registry import CODECS, get_codec
from inrcodec.coding import container
from inrcodec.coding.container import Container, ImageInfo
from inrcodec.coding.limits import DecodeLimits

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
SIZE = (512, 768)  # height, width


def synthetic_file(codec: str, preset: str, height: int, width: int, mode: str = "RGB",
                   seed: int = 0, /, latent_range: int = 2, **overrides) -> bytes:
    """A real .inr file of an untrained model (weights as initialised, latents random in
    +-latent_range)."""
    impl = get_codec(codec)
    s = impl.make_settings(preset, **overrides)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    info = ImageInfo(height, width, channels, 8, mode)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if codec == "coolchic":
        from inrcodec.codecs.coolchic.five.codec import code_sections
        from inrcodec.codecs.coolchic.five.model import CoolChic5Model
        from inrcodec.codecs.coolchic.five.quant import FIXED_K

        model = CoolChic5Model(s, height, width, channels)
        values = {g: rng.integers(-latent_range, latent_range + 1, size=g.shape)
                  for g in model.layout.order}
        sections, _ = code_sections(s, model, FIXED_K, values)
    elif codec.startswith("coolchic"):
        from inrcodec.codecs.coolchic.codec import code_sections, grid_shapes
        from inrcodec.codecs.coolchic.model import MODULES, CoolChicModel
        from inrcodec.codecs.coolchic.rdquant import FIXED_K, integer_weights

        model = CoolChicModel(s, min(height, 64), min(width, 64), channels)  # weights only
        ks = {m: (FIXED_K, FIXED_K) for m in MODULES}
        grids = [rng.integers(-latent_range, latent_range + 1, size=sh)
                 for sh in grid_shapes(s, height, width)]
        sections = code_sections(s, integer_weights(model, ks), ks, grids)
    else:
        from inrcodec.codecs.inr.base import code_weights

        net = impl.build(s, channels)
        sections = code_weights(net, s.bits, {})
    return container.pack(Container(codec, impl.config_of(s), info, sections))


# name -> (codec, preset, height, width, mode, overrides): the costliest presets at 768x512,
# then files built to sit at the default limits (what a hostile file can make a decoder do)
DECODES: dict[str, tuple] = {
    "nif-680": ("nif", "680", 512, 768, "RGB", {}),
    "nif-450": ("nif", "450", 512, 768, "RGB", {}),
    "pe-mlp-large": ("pe-mlp", "large", 512, 768, "RGB", {}),
    "siren-13x49": ("siren", "13x49", 512, 768, "RGB", {}),
    "coolchic-v2-default": ("coolchic-v2", "default", 512, 768, "RGB", {}),
    "coolchic-v1-default": ("coolchic-v1", "default", 512, 768, "RGB", {}),
    # coolchic's decoder configurations (its presets differ in training only)
    "coolchic-lop": ("coolchic", "default", 512, 768, "RGB", {"decoder": "lop"}),
    "coolchic-mop": ("coolchic", "default", 512, 768, "RGB", {"decoder": "mop"}),
    "coolchic-hop": ("coolchic", "default", 512, 768, "RGB", {"decoder": "hop"}),
    "coolchic-vhop": ("coolchic", "default", 512, 768, "RGB", {"decoder": "vhop"}),
    # at the limits: a NIF as wide as max_macs allows at 768x512
    "limit-nif-wide": ("nif", "680", 512, 768, "RGBA", {"hidden": (1000, 220, 65, 30)}),
    # the largest image a tiny SIREN may claim (memory-bound)
    "limit-siren-tiny-huge": ("siren", "5x20", 4096, 4096, "RGBA", {"layers": 1, "width": 1}),
    # Cool-chic's longest wavefront: a 1-pixel-wide, 65536-pixel-tall image
    "limit-coolchic-tall": ("coolchic-v2", "default", 65536, 1, "RGBA", {}),
    # a PE-MLP as deep and wide as the MAC limit allows at 768x512
    "limit-pe-mlp-deep": ("pe-mlp", "large", 512, 768, "RGB",
                          {"layers": 44, "width": 70, "skips": (22,)}),
    # a deep, narrow SIREN on a larger image: sines rather than products
    "limit-siren-narrow": ("siren", "5x20", 2048, 2048, "RGB", {"layers": 64, "width": 8}),
    # Cool-chic with every latent level at 4 channels: the full-resolution feature stack
    "limit-coolchic-wide-latents": ("coolchic-v2", "default", 1152, 1152, "RGB",
                                    {"latent_channels": (4,) * 8}),
    # Cool-chic with a convolutional synthesis of 3x3 kernels
    "limit-coolchic-conv": ("coolchic-v2", "default", 512, 768, "RGB",
                            {"synthesis": "64-3-linear-relu," * 8 + "X-3-linear-none"}),
    # coolchic's longest wavefront (vhop's 20 contexts reach 3 columns right: 4 waves a row)
    "limit-coolchic5-tall": ("coolchic", "default", 65536, 1, "RGBA", {"decoder": "vhop"}),
    # latents spread over their whole range: the widest alphabet of the latent coder's tables
    "limit-coolchic5-alphabet": ("coolchic", "default", 512, 768, "RGB",
                                 {"decoder": "vhop", "latent_range": 127}),
}


def model_variants(codec: str) -> list[dict]:
    """Settings beyond the presets that choose the decoder's model: coolchic's decoder
    configurations (its presets differ in training only; the model byte holds the choice)."""
    if codec == "coolchic":
        from inrcodec.codecs.coolchic.five.layout import DECODERS

        return [{"decoder": d} for d in DECODERS]
    return [{}]


def preset_costs() -> list[dict]:
    rows = []
    for name, cls in CODECS.items():
        impl = cls()
        for preset in cls.presets:
            for variant in model_variants(name):
                s = impl.make_settings(preset, **variant)
                label = " ".join([preset, *(f"{k}={v}" for k, v in variant.items())])
                for c, mode in ((1, "L"), (3, "RGB"), (4, "RGBA")):
                    cost = impl.decode_cost(s, ImageInfo(*SIZE, c, 8, mode))
                    rows.append({"codec": name, "preset": label, "mode": mode,
                                 **cost.to_dict()})
    return rows


def status_bytes(key: str) -> int:
    """A /proc/self/status figure (VmRSS, VmHWM) in bytes. VmHWM is this process's own peak:
    getrusage's ru_maxrss is not (Linux carries the parent's peak RSS over a vfork+exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_peak_rss() -> None:
    """Set VmHWM to the current RSS (so the warm-up's peak does not count)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def child(path: str, warmup: str) -> None:
    """Decode one file in this fresh process; print a JSON line of time and peak memory.
    A small file of the same model is decoded first, so that the code the decode runs is
    paged in before the RSS is read (else libtorch's pages would count as the decode's)."""
    torch.set_num_threads(1)
    api.decode(Path(warmup).read_bytes(), device="cpu")
    data = Path(path).read_bytes()
    cost = api.decode_cost(data)
    reset_peak_rss()
    before = status_bytes("VmRSS")
    t = time.perf_counter()
    api.decode(data, device="cpu", limits=DecodeLimits.unlimited())
    seconds = time.perf_counter() - t
    peak = status_bytes("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_rss_growth": max(0, peak - before),
                      "rss_before": before, **cost.to_dict(),
                      "accepted_by_default": _accepted(data)}))


def _accepted(data: bytes) -> bool:
    try:
        DecodeLimits().check(api.decode_cost(data), "?")
        return True
    except Exception:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--decode", action="store_true", help="decode the cases too")
    ap.add_argument("--cases", default=",".join(DECODES), help="comma list of DECODES names")
    ap.add_argument("--report", action="store_true", help="only write decode_limits.md from "
                    "decode_limits.json")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.report:
        (OUT / "decode_limits.md").write_text(report(json.loads(
            (OUT / "decode_limits.json").read_text())))
        return
    limits = DecodeLimits()
    costs = preset_costs()
    worst = max(costs, key=lambda r: r["macs"])
    out = {"date": datetime.date.today().isoformat(),
           "command": "python benchmarks/decode_limits.py " + " ".join(sys.argv[1:]),
           "commit": commit(),
           "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, "
                      f"torch {torch.__version__}, Python {platform.python_version()}",
           "limits": {k: getattr(limits, k) for k in ("max_macs", "max_params",
                                                       "max_peak_bytes", "max_file_bytes")},
           "presets_768x512": costs, "decodes": []}
    over = [r for r in costs if r["macs"] > limits.max_macs or r["params"] > limits.max_params
            or r["peak_bytes"] > limits.max_peak_bytes]
    print(f"{len(costs)} preset x mode costs at 768x512; costliest {worst['codec']} "
          f"{worst['preset']} {worst['mode']}: {worst['macs']:.3g} MAC, "
          f"{worst['peak_bytes'] / 2**20:.0f} MiB; over the default limits: {len(over)}")
    if args.decode:
        with tempfile.TemporaryDirectory() as tmp:
            for name in args.cases.split(","):
                codec, preset, h, w, mode, over_ = DECODES[name]
                path = Path(tmp) / f"{name}.inr"
                path.write_bytes(synthetic_file(codec, preset, h, w, mode, **over_))
                small = Path(tmp) / f"{name}-warmup.inr"
                small.write_bytes(synthetic_file(codec, preset, min(h, 16), min(w, 16), mode,
                                                 1, **over_))
                runs = {}
                for label, env in (("glibc", {}), ("live", {"MALLOC_MMAP_THRESHOLD_": "131072"})):
                    r = subprocess.run([sys.executable, __file__, "--child", str(path),
                                        str(small)], capture_output=True, text=True,
                                       env={**os.environ, **env})
                    if r.returncode:
                        print(name, "failed:", r.stderr[-2000:])
                        break
                    runs[label] = json.loads(r.stdout)
                else:
                    row = {"case": name, "codec": codec, "preset": preset, "size": f"{w}x{h}",
                           "mode": mode, "overrides": {k: list(v) if isinstance(v, tuple)
                                                       else v for k, v in over_.items()},
                           "file_bytes": path.stat().st_size, **runs["glibc"],
                           "peak_live_growth": runs["live"]["peak_rss_growth"],
                           "seconds_live_run": runs["live"]["seconds"],
                           "run": {"commit": out["commit"], "command": out["command"],
                                   "load_average": os.getloadavg()[0]}}
                    row["mac_per_s"] = row["macs"] / row["seconds"]
                    out["decodes"].append(row)
                    print(f"{name:28s} {row['seconds']:7.2f} s  {row['macs']:.3g} MAC "
                          f"({row['mac_per_s'] / 1e9:.2f} GMAC-eq/s)  peak RSS +"
                          f"{row['peak_rss_growth'] / 2**20:.0f} MiB, live +"
                          f"{row['peak_live_growth'] / 2**20:.0f} MiB (estimate "
                          f"{row['peak_bytes'] / 2**20:.0f} MiB)  accepted by default: "
                          f"{row['accepted_by_default']}", flush=True)
    if args.decode and (OUT / "decode_limits.json").exists():  # keep the other cases' rows
        old = json.loads((OUT / "decode_limits.json").read_text()).get("decodes", [])
        ran = {r["case"] for r in out["decodes"]}
        out["decodes"] = [r for r in old if r["case"] not in ran] + out["decodes"]
        out["decodes"].sort(key=lambda r: list(DECODES).index(r["case"])
                            if r["case"] in DECODES else len(DECODES))
    (OUT / "decode_limits.json").write_text(json.dumps(out, indent=1) + "\n")
    (OUT / "decode_limits.md").write_text(report(out))


def report(out: dict) -> str:
    lim = out["limits"]
    costs = out["presets_768x512"]
    top = sorted(costs, key=lambda r: -r["macs"])[:6]
    lines = [
        f"# Decode limits: what the defaults accept and what an accepted decode costs "
        f"({out['date']})", "",
        f"Machine: {out['machine']}. Each decode ran alone in a fresh process with one torch "
        "thread, niced; its timing depends on the load of these shared cores (other jobs: "
        "the load average when its row was written is given). Runs:", ""]
    for run in sorted({(r["run"]["commit"], r["run"]["command"]) for r in out["decodes"]}):
        lines.append(f"- `{run[1]}` (commit {run[0]})")
    lines += ["",
        f"Default limits (`inrcodec.DecodeLimits()`): {lim['max_macs']:.3g} MAC, "
        f"{lim['max_params']:.0f} parameters, {lim['max_peak_bytes'] / 2**30:.3g} GiB of "
        f"peak memory, {lim['max_file_bytes'] / 2**20:.0f} MiB of file.", "",
        f"Every preset of every codec at 768x512 in L, RGB and RGBA ({len(costs)} cases) is "
        f"accepted: the costliest are", "",
        "| codec | preset | mode | params | MAC (equivalents) | estimated peak |",
        "|---|---|---|---|---|---|"]
    for r in top:
        lines.append(f"| {r['codec']} | {r['preset']} | {r['mode']} | {r['params']} | "
                     f"{r['macs']:.3g} | {r['peak_bytes'] / 2**20:.0f} MiB |")
    lines += ["", "Decodes (synthetic files of the named model: untrained weights, random "
              "latents, coded as the encoder codes them; `limit-*` files are built to sit near "
              "the default limits, the costliest a hostile file can make an accepted decode):",
              "", "| case | size | accepted by default | MAC (equivalents) | seconds | "
              "GMAC-eq/s | load | peak RSS growth | live peak | estimated peak |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in out["decodes"]:
        yes = "yes" if r["accepted_by_default"] else "no"
        lines.append(
            f"| {r['case']} | {r['size']} {r['mode']} | {yes} | "
            f"{r['macs']:.3g} | {r['seconds']:.1f} | {r['mac_per_s'] / 1e9:.2f} | "
            f"{r['run']['load_average']:.1f} | "
            f"{r['peak_rss_growth'] / 2**20:.0f} MiB | {r['peak_live_growth'] / 2**20:.0f} MiB | "
            f"{r['peak_bytes'] / 2**20:.0f} MiB |")
    accepted = [r for r in out["decodes"] if r["accepted_by_default"]]
    if accepted:
        slow = max(accepted, key=lambda r: r["seconds"])
        rate = min(r["mac_per_s"] for r in accepted)
        lines += ["", f"Slowest accepted decode: {slow['case']} ({slow['size']} {slow['mode']}, "
                  f"{slow['macs']:.3g} MAC-eq) in {slow['seconds']:.1f} s. The slowest rate "
                  f"measured, {rate / 1e9:.2f} GMAC-eq/s, bounds any accepted decode at about "
                  f"{lim['max_macs'] / rate:.0f} s on this machine under this load."]
    lines += ["", "Peak memory: *live peak* is the RSS growth with "
              "`MALLOC_MMAP_THRESHOLD_=131072` (every large block its own mapping, so the RSS "
              "follows the bytes alive), which the estimate models; with glibc's default "
              "dynamic threshold, freed blocks of tens of MB stay in the heap and the RSS peak "
              "can exceed it (*peak RSS growth*)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
