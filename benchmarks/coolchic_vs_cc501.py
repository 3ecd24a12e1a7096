"""Cool-chic 5.0.1 (Orange's reference encoder) and our `coolchic` codec side by side: the same
image, lambda, iteration budget and decoder configuration, run back to back on this machine.

    python benchmarks/coolchic_vs_cc501.py --cc501 /work/cc501 --protocol kodak6-half \
        --lmbdas 2e-4,1e-3,4e-3,2e-2 --itr 2000 --config lop --sides ref,ours

The reference is NOT part of the package: `--cc501` is a folder prepared by
../shared/tools/coolchic501-env.sh (its source, a venv and a torchvision shim). Each pair
(image, lambda, iterations, configuration) gets one row per side with wall and CPU seconds
(user + system of the encoder process), peak RSS, file bytes, bpp, and PSNR / MS-SSIM / LPIPS of
the decoded image measured by inrcodec's own metrics. Rows are appended to OUT.jsonl as each
encode finishes, so a long comparison can stop and resume; OUT.md / OUT.json are rewritten from
the rows (`--report-only` rewrites them without running anything).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import commit, write_report

import inrcodec
from inrcodec.bench.bdrate import bd
from inrcodec.bench.protocols import protocol_images
from inrcodec.io import read_image, write_image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "coolchic_vs_cc501"
CONFIGS = ("lop", "mop", "hop", "vhop")
FIELDS = ("wall_s", "cpu_s", "peak_rss_mb", "bytes", "bpp", "psnr", "msssim", "msssim_db",
          "lpips")


def timed(cmd: list[str], env: dict[str, str], log: Path) -> dict:
    """Run cmd under /usr/bin/time -v: wall, CPU and peak RSS; raise with the log's tail on
    failure."""
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        r = subprocess.run(["/usr/bin/time", "-v", *cmd], stdout=fh, stderr=subprocess.STDOUT,
                           env=env)
    wall = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[1] if len(cmd) > 1 else cmd[0]} failed:\n{text[-2000:]}")

    def field(name: str) -> float:
        m = re.search(rf"{re.escape(name)}: ([0-9.]+)", text)
        return float(m.group(1)) if m else float("nan")

    return {"wall_s": wall, "cpu_s": field("User time (seconds)") +
            field("System time (seconds)"),
            "peak_rss_mb": field("Maximum resident set size (kbytes)") / 1024}


def measure(src: Path, decoded: Path, nbytes: int) -> dict:
    ref, dist = read_image(src), read_image(decoded)
    m = inrcodec.evaluate(ref, dist)
    return {"bytes": nbytes, "bpp": 8 * nbytes / ref.num_pixels} | {
        k: m[k] for k in ("psnr", "msssim", "msssim_db", "lpips")}


def thread_env(threads: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env | (extra or {})


def run_reference(cc501: Path, src: Path, lmbda: float, itr: int, config: str, threads: int,
                  work: Path) -> dict:
    env = thread_env(threads, {"PYTHONPATH": f"{cc501 / 'shim'}:{cc501}"})
    py = str(cc501 / "venv" / "bin" / "python")
    bit, wd = work / "ref.cool", work / "wd"
    wd.mkdir()
    row = timed([py, str(cc501 / "cc_encode.py"), "-i", str(src), "-o", str(bit),
                 "--dec_cfg_residue", str(cc501 / "cfg" / "dec" / "intra" / f"{config}.cfg"),
                 "--lmbda", str(lmbda), "--n_itr", str(itr), "--workdir", str(wd)],
                env, work / "ref-encode.log")
    dec = work / "ref.png"
    subprocess.run([py, str(cc501 / "cc_decode.py"), "-i", str(bit), "-o", str(dec)],
                   env=env, check=True, capture_output=True)
    return row | measure(src, dec, bit.stat().st_size)


def run_ours(src: Path, lmbda: float, itr: int, config: str, threads: int, preset: str,
             extra: list[str], work: Path) -> dict:
    exe = str(Path(sys.executable).with_name("inrcodec"))
    inr, dec = work / "ours.inr", work / "ours.png"
    cmd = [exe, "encode", str(src), "-o", str(inr), "-c", "coolchic", "--lmbda", str(lmbda),
           "--preset", preset, "--set", f"decoder={config}", "--set", f"iterations={itr}",
           "--quiet", "--no-lpips", *extra]
    row = timed(cmd, thread_env(threads), work / "ours-encode.log")
    subprocess.run([exe, "decode", str(inr), "-o", str(dec)], check=True, capture_output=True,
                   env=thread_env(threads))
    info = json.loads(subprocess.run([exe, "info", str(inr), "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    return row | measure(src, dec, inr.stat().st_size) | {
        "macs_per_pixel": info.get("macs_per_pixel"), "sections": info.get("sections")}


def load_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def key(r: dict) -> tuple:
    return r["image"], r["lmbda"], r["itr"], r["config"], r["side"]


def report(rows: list[dict], out: Path) -> None:
    pairs: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        pairs.setdefault(key(r)[:4], {})[r["side"]] = r
    lines = ["# Cool-chic 5.0.1 and `coolchic` side by side", "",
             f"Rows: `{out.with_suffix('.jsonl').name}` (one per encode); commands and machine "
             "in each row. CPU s = user + system seconds of the encoder process; PSNR, MS-SSIM "
             "and LPIPS measured by inrcodec on each decoded file.", "",
             "| image | lambda | itr | config | side | wall s | CPU s | peak RSS MB | bytes | "
             "bpp | PSNR dB | MS-SSIM | LPIPS | CPU ratio ours/ref |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for k in sorted(pairs):
        sides = pairs[k]
        ratio = (sides["ours"]["cpu_s"] / sides["ref"]["cpu_s"]
                 if {"ours", "ref"} <= set(sides) else None)
        for side in ("ref", "ours"):
            r = sides.get(side)
            if r is None:
                continue
            lines.append(
                f"| {k[0]} | {k[1]:g} | {k[2]} | {k[3]} | {side} | {r['wall_s']:.0f} | "
                f"{r['cpu_s']:.0f} | {r['peak_rss_mb']:.0f} | {r['bytes']} | {r['bpp']:.4f} | "
                f"{r['psnr']:.2f} | {r['msssim']:.4f} | {r['lpips']:.4f} | "
                f"{'' if ratio is None or side == 'ref' else f'{ratio:.2f}'} |")
    lines += bd_summary(pairs)
    write_report(out.with_suffix(".md"), "\n".join(lines))
    out.with_suffix(".json").write_text(json.dumps({"rows": rows}, indent=1) + "\n")


def bd_summary(pairs: dict[tuple, dict[str, dict]]) -> list[str]:
    """BD-rate (PSNR, Akima) of ours against the reference per image, iteration budget and
    config, over the lambdas both sides have (4 at least), with the CPU-time ratio of those
    encodes; then the mean over the images."""
    curves: dict[tuple, list[dict[str, dict]]] = {}
    for (image, _, itr, config), sides in sorted(pairs.items()):
        if {"ours", "ref"} <= set(sides):
            curves.setdefault((image, itr, config), []).append(sides)
    lines = ["", "## BD-rate of `coolchic` against Cool-chic 5.0.1", "",
             "Per image: BD-rate (PSNR, Akima; negative = ours needs fewer bits) over the "
             "lambdas both sides ran, and the CPU seconds of our encodes over the reference's.",
             "", "| image | itr | config | lambdas | BD-rate % | BD-PSNR dB | CPU ours/ref |",
             "|---|---|---|---|---|---|---|"]
    per: dict[tuple, list[tuple[float, float]]] = {}
    for (image, itr, config), got in curves.items():
        if len(got) < 4:
            continue
        ref = [g["ref"] for g in got]
        ours = [g["ours"] for g in got]
        r = bd([x["bpp"] for x in ref], [x["psnr"] for x in ref],
               [x["bpp"] for x in ours], [x["psnr"] for x in ours])
        cpu = sum(x["cpu_s"] for x in ours) / sum(x["cpu_s"] for x in ref)
        per.setdefault((itr, config), []).append((r.bd_rate, cpu))
        lines.append(f"| {image} | {itr} | {config} | {len(got)} | {r.bd_rate:+.1f} | "
                     f"{r.bd_metric:+.3f} | {cpu:.2f} |")
    for (itr, config), vals in sorted(per.items()):
        lines.append(f"| mean of {len(vals)} | {itr} | {config} | | "
                     f"{statistics.mean(v[0] for v in vals):+.1f} | | "
                     f"{statistics.mean(v[1] for v in vals):.2f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cc501", type=Path, help="folder made by coolchic501-env.sh")
    ap.add_argument("--protocol", default="kodak6-half")
    ap.add_argument("--images", default="", help="comma list restricting the protocol")
    ap.add_argument("--lmbdas", default="2e-4,1e-3,4e-3,2e-2")
    ap.add_argument("--itr", default="2000", help="comma list of iteration budgets")
    ap.add_argument("--config", default="lop", choices=CONFIGS)
    ap.add_argument("--sides", default="ref,ours")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--preset", default="fast", help="our preset (its schedule is scaled to "
                    "--itr)")
    ap.add_argument("--set", action="append", default=[], help="extra --set for our encoder")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--keep", type=Path, help="folder to keep every encoded file in "
                    "(IMAGE-LAMBDA-ITR-CONFIG-SIDE.inr / .cool), to inspect or repack later")
    a = ap.parse_args()
    jsonl = a.out.with_suffix(".jsonl")
    rows = load_rows(jsonl)
    if a.report_only:
        report(rows, a.out)
        return
    sides = [s for s in a.sides.split(",") if s]
    if "ref" in sides and (a.cc501 is None or not (a.cc501 / "cc_encode.py").is_file()):
        sys.exit("error: --cc501 must name a folder prepared by coolchic501-env.sh")
    done = {key(r) for r in rows}
    names = tuple(n for n in a.images.split(",") if n) or None
    images = protocol_images(a.protocol, names)
    cache = Path(tempfile.mkdtemp(prefix="cc501-src-"))
    extra = [x for s in a.set for x in ("--set", s)]
    code = commit()  # the code our side runs, whatever is committed meanwhile
    a.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        for name, image in images.items():
            src = cache / f"{name}.png"
            write_image(image, src)
            for itr in (int(x) for x in a.itr.split(",")):
                for lmbda in (float(x) for x in a.lmbdas.split(",")):
                    for side in sides:  # back to back: the pair shares the machine's state
                        k = (name, lmbda, itr, a.config, side)
                        if k in done:
                            continue
                        work = Path(tempfile.mkdtemp(prefix=f"{side}-", dir=cache))
                        load = os.getloadavg()[0]
                        if side == "ref":
                            row = run_reference(a.cc501, src, lmbda, itr, a.config, a.threads,
                                                work)
                        else:
                            row = run_ours(src, lmbda, itr, a.config, a.threads, a.preset,
                                           extra, work)
                        row |= {"image": name, "protocol": a.protocol, "lmbda": lmbda,
                                "itr": itr, "config": a.config, "side": side,
                                "threads": a.threads, "load_avg_start": load,
                                "command": " ".join(sys.argv), "date": time.strftime("%F"),
                                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                                "inrcodec": inrcodec.__version__, "commit": code}
                        with open(jsonl, "a") as fh:
                            fh.write(json.dumps(row) + "\n")
                        rows.append(row)
                        report(rows, a.out)
                        if a.keep is not None:
                            a.keep.mkdir(parents=True, exist_ok=True)
                            f = work / ("ref.cool" if side == "ref" else "ours.inr")
                            shutil.copyfile(f, a.keep / f"{name}-{lmbda:g}-{itr}-{a.config}-"
                                                         f"{side}{f.suffix}")
                        print(f"{side} {name} lambda {lmbda:g} itr {itr}: {row['bpp']:.4f} bpp "
                              f"{row['psnr']:.2f} dB, {row['cpu_s']:.0f} CPU s", flush=True)
                        shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
