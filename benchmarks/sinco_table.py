"""SINCO's Table 1 (and its lambda sweep) from bench stores: one row per INR method with its
PSNR, SSIM, Dice and both bpp definitions, the per-slice effect of the sinco term, each lambda
sweep on the slices all its lambdas share, and the classical codecs at their target rates, as
markdown (issue 18):

    python benchmarks/sinco_table.py benchmarks/results/sinco/sinco-table1-converged.store.json
    python benchmarks/sinco_table.py runs/t1c.sqlite runs/lambda.sqlite --original

Stores are `inrcodec bench` databases or their JSON exports; rows of several stores are merged
(a job in two stores counts once). Methods are the INR curves (spec label | loss). Columns:
- lambda: on SINCO's scale, read from the loss (`mse+W*sinco` trains mean-MSE + W (1 - Dice),
  the paper's sum-L2 objective divided by the pixel count, so lambda = W x pixels);
- s: the Dice term's reference, `labels` (`sinco`, the paper) or `g(x)` (`sinco_g`);
- bpp (paper): 16 x parameters / pixels (the row's `num_params`); bpp (file): the real file;
- Dice: the shipped segmenter on the decoded slice against the labels.
Means are over the slices each method has (n); the paired table uses the slices both have.
`--original` adds the segmenter's Dice on the uncompressed slices (needs the volumes).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from inrcodec.bench.curves import with_task_metrics
from inrcodec.bench.store import Store
from inrcodec.errors import InrCodecError
from inrcodec.medical.paper import paper_bpp

PAPER_TABLE1 = [  # SINCO (Gao et al.), Table 1: Decathlon Task01, 50k steps on a GPU
    ("COIN", 34.49, 0.907, 0.892),
    ("Vanilla INR", 35.18, 0.923, 0.877),
    ("SINCO (SIREN)", 34.93, 0.915, 0.894),
    ("SINCO (INR)", 35.69, 0.952, 0.895),
]
TERM = re.compile(r"(?:^|\+)\s*([0-9.]+(?:e[-+]?[0-9]+)?)\s*\*\s*(sinco_g|sinco)\b")
# which method a sinco method is measured against slice by slice: the same network without it
PAIRS = {"SINCO (SIREN)": "COIN", "SINCO (INR)": "Vanilla INR"}


def merged_rows(paths: list[str]) -> list[dict]:
    rows: dict[str, dict] = {}
    for path in paths:
        with Store.open(path) as store:
            for r in store.rows("done"):
                rows.setdefault(r["job_id"], r)
    return with_task_metrics(list(rows.values()))  # each row's Dice as r["dice"]


def sinco_term(loss: str, pixels: int) -> tuple[float, str]:
    """(lambda on SINCO's scale, Dice reference) of a loss string; (0, "-") without the term."""
    m = TERM.search(loss or "")
    if not m:
        return 0.0, "-"
    return float(m.group(1)) * pixels, "labels" if m.group(2) == "sinco" else "g(x)"


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _quality(rs: list[dict]) -> dict:
    """Mean PSNR, SSIM, Dice and file bpp of some rows (None where none has the value)."""
    return {k: _mean([r.get(k) for r in rs]) for k in ("psnr", "ssim", "dice", "bpp")}


def _f(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def method_rows(rows: list[dict]) -> list[dict]:
    """One dict per INR method (curve), in Table 1's order."""
    by_curve: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r["kind"] == "inr":
            by_curve[r["curve"]].append(r)
    out = []
    for curve, rs in by_curve.items():
        pixels = rs[0]["width"] * rs[0]["height"]
        lam, ref = sinco_term(rs[0]["loss"], pixels)
        params = [json.loads(r["log_json"] or "{}").get("num_params") for r in rs]
        out.append({
            "method": curve.split("|")[0], "curve": curve, "loss": rs[0]["loss"],
            "lambda": lam, "reference": ref, "n": len(rs), **_quality(rs),
            "bpp_paper": _mean([paper_bpp(p, r["width"] * r["height"])
                                for p, r in zip(params, rs, strict=True) if p]),
            "encode_s": _mean([r["encode_seconds"] for r in rs]),
            "slices": {r["image"]: r for r in rs},
        })
    order = [name for name, *_ in PAPER_TABLE1]  # Table 1's order, other methods after
    return sorted(out, key=lambda m: (order.index(m["method"]) if m["method"] in order
                                      else len(order), m["method"], m["lambda"],
                                      m["reference"]))


def paired(methods: list[dict]) -> list[dict]:
    """Each sinco method against the same network without the term, on the slices both have."""
    plain = {m["method"]: m for m in methods if m["reference"] == "-"}
    out = []
    for m in methods:
        base = plain.get(PAIRS.get(m["method"], ""))
        if m["reference"] == "-" or base is None:
            continue
        common = sorted(set(m["slices"]) & set(base["slices"]))
        if not common:
            continue
        d_dice = [m["slices"][s]["dice"] - base["slices"][s]["dice"] for s in common]
        d_psnr = [m["slices"][s]["psnr"] - base["slices"][s]["psnr"] for s in common]
        out.append({"method": m["method"], "lambda": m["lambda"], "reference": m["reference"],
                    "base": base["method"], "n": len(common),
                    "d_dice": statistics.fmean(d_dice), "dice_up": sum(d > 0 for d in d_dice),
                    "d_psnr": statistics.fmean(d_psnr)})
    return out


def lambda_sweeps(methods: list[dict]) -> list[dict]:
    """Each sinco method swept over lambda (two or more non-zero lambdas with one reference),
    with the network without the term as lambda 0, all on the slices every lambda has: one
    dict per sweep with its slices and a row per lambda."""
    plain = {m["method"]: m for m in methods if m["reference"] == "-"}
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for m in methods:
        if m["reference"] != "-" and m["lambda"] > 0:
            groups[(m["method"], m["reference"])].append(m)
    out = []
    for (method, ref), ms in groups.items():
        if len({m["lambda"] for m in ms}) < 2:
            continue
        base = plain.get(PAIRS.get(method, ""))
        points = ([base] if base else []) + sorted(ms, key=lambda m: m["lambda"])
        common = sorted(set.intersection(*(set(m["slices"]) for m in points)))
        if not common:
            continue
        rows = [{"lambda": 0.0 if m is base else m["lambda"], "method": m["method"],
                 **_quality([m["slices"][s] for s in common])} for m in points]
        out.append({"method": method, "reference": ref, "slices": common, "rows": rows})
    return out


def classical_rows(rows: list[dict]) -> list[dict]:
    by_point: dict[tuple[str, float], list[dict]] = defaultdict(list)
    for r in rows:
        if r["kind"] != "inr":
            target = json.loads(r["rate_json"] or "{}").get("target_bpp")
            by_point[(r["codec"], target)].append(r)
    return [{"method": f"{codec} @{target:g}", "n": len(rs), **_quality(rs)}
            for (codec, target), rs in sorted(by_point.items(), key=lambda kv: (kv[0][0],
                                                                                  kv[0][1] or 0))]


def original_dice(rows: list[dict]) -> float | None:
    """The segmenter's mean Dice on the uncompressed slices the rows were measured on."""
    from inrcodec.bench.images import ImageRef, load_image
    from inrcodec.medical.plugin import segmentation_dice

    seen: dict[str, float] = {}
    for r in rows:
        img = json.loads(r["job_json"])["image"]
        if r["image"] in seen or not img.get("labels"):
            continue
        ref = ImageRef(img["path"], img["name"], slice=img.get("slice"), labels=img["labels"])
        image, context = load_image(ref)
        seen[r["image"]] = segmentation_dice(image, image, context)
    return _mean(list(seen.values()))


def markdown(rows: list[dict], original: float | None = None, source: str = "") -> str:
    methods = method_rows(rows)
    head = [f"Written by `python benchmarks/sinco_table.py {source}`: {len(rows)} finished "
            "rows.", ""] if source else []
    lines = ["| method | lambda | s | PSNR (dB) | SSIM | Dice | bpp (16 x params / px) | "
             "bpp (file) | n | encode s |", "|---|---|---|---|---|---|---|---|---|---|"]
    if original is not None:
        lines.append(f"| Original | - | - | - | 1.000 | {original:.3f} | - | - | - | - |")
    for m in methods:
        lines.append(f"| {m['method']} | {m['lambda']:g} | {m['reference']} | "
                     f"{_f(m['psnr'], 2)} | {_f(m['ssim'])} | {_f(m['dice'])} | "
                     f"{_f(m['bpp_paper'])} | {_f(m['bpp'])} | {m['n']} | "
                     f"{_f(m['encode_s'], 0)} |")
    out = [*head, "## INR methods", "", *lines, ""]
    if len({m["n"] for m in methods}) > 1:
        out += ["The methods were measured on different numbers of slices (n): their means are "
                "not over the same slices; the paired table below is.", ""]
    pairs = paired(methods)
    if pairs:
        out += ["## The sinco term, slice by slice", "",
                "| method | lambda | s | against | slices | Dice change (mean) | slices with "
                "higher Dice | PSNR change (dB) |", "|---|---|---|---|---|---|---|---|"]
        out += [f"| {p['method']} | {p['lambda']:g} | {p['reference']} | {p['base']} | "
                f"{p['n']} | {p['d_dice']:+.3f} | {p['dice_up']} of {p['n']} | "
                f"{p['d_psnr']:+.2f} |" for p in pairs]
        out.append("")
    for sweep in lambda_sweeps(methods):
        out += [f"## Lambda sweep: {sweep['method']}, s = {sweep['reference']}", "",
                f"On the {len(sweep['slices'])} slices every lambda has "
                f"({', '.join(sweep['slices'])}); lambda 0 is the network without the term.", "",
                "| lambda | method | PSNR (dB) | SSIM | Dice | bpp (file) |",
                "|---|---|---|---|---|---|"]
        out += [f"| {r['lambda']:g} | {r['method']} | {_f(r['psnr'], 2)} | {_f(r['ssim'])} | "
                f"{_f(r['dice'])} | {_f(r['bpp'])} |" for r in sweep["rows"]]
        out.append("")
    classical = classical_rows(rows)
    if classical:
        out += ["## Classical codecs at target rates (same slices)", "",
                "| codec @ target bpp | PSNR (dB) | SSIM | Dice | bpp (file) | n |",
                "|---|---|---|---|---|---|"]
        out += [f"| {c['method']} | {_f(c['psnr'], 2)} | {_f(c['ssim'])} | {_f(c['dice'])} | "
                f"{_f(c['bpp'])} | {c['n']} |" for c in classical]
        out.append("")
    out += ["## The paper's Table 1 (Decathlon Task01, 50k steps, GPU)", "",
            "| method | PSNR (dB) | SSIM | Dice |", "|---|---|---|---|"]
    out += [f"| {name} | {p:.2f} | {s:.3f} | {d:.3f} |" for name, p, s, d in PAPER_TABLE1]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("stores", nargs="+", help="bench databases or JSON exports")
    ap.add_argument("--original", action="store_true",
                    help="add the segmenter's Dice on the uncompressed slices")
    ap.add_argument("-o", "--out", help="write the markdown here (default: stdout)")
    args = ap.parse_args(argv)
    try:
        rows = merged_rows(args.stores)
        if not rows:
            raise InrCodecError("no finished rows in " + ", ".join(args.stores))
        source = " ".join(args.stores) + (" --original" if args.original else "")
        text = markdown(rows, original_dice(rows) if args.original else None, source)
    except (InrCodecError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
