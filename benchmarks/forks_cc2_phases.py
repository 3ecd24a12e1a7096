"""Cool-chic 2.0 phase by phase: the 2.0 fork's encode logs against a traced encode of ours.

    .venv/bin/python benchmarks/forks_cc2_phases.py --work /work/runs/forks/work --loss mse \\
        --ours-seeds 1,2          # resumes from benchmarks/results/forks_cc2_phases.jsonl

Where along its recipe does our `coolchic-v2 --preset icip24` fall behind the fork's
`--recipe=faster` (issue 17)? The fork side is read from the encode logs that
`forks_side_by_side.py` keeps (WORK/cc2-LOSS-fork-SEED/log.txt: the fork's encode.py prints its
warm-up tables and each phase's end). Our side is encoded again with the recipe's phase and
network-quantisation functions wrapped to record each phase's end (the encode is deterministic:
the same file as the side-by-side row of that seed); one JSON line per seed, resumed by seed.

Each cell is the validation the two recipes both compute, loss x 1e3 with the latents rounded,
x^ on 8-bit levels and only the latents' rate (the fork's figures after its network
quantisation also count the networks' rate, which is taken out here), and the latents' rate in
bpp: the warm-up's winner, the end of each of the 11 phases, phase 9 before and after the
networks are quantised. CPU: ~25 min per seed of ours (one thread); the fork's side is free.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "forks_cc2_phases"
LAMBDA = 1e-3
OUR_LOSS = {"mse": "mse", "lcssim": "cc_lcssim"}
PHASES = 11
# the columns: warm-up winner, phases 0-8, phase 9 before and after quantising, phase 10
COLUMNS = ["warm-up", *(str(i) for i in range(9)), "9", "9 q", "10"]

_NUM = r"[-+]?\d+\.\d+(?:e[-+]?\d+)?"


def parse_fork_log(text: str) -> dict[str, Any]:
    """(loss x 1e3, latent bpp) per column from a 2.0 fork encode.py log."""
    given = re.search(r"--lmbda=(\S+)", text)
    lmbda = float(given.group(1)) if given else LAMBDA
    lines = text.splitlines()
    tables, table = [], None
    for line in lines:  # the warm-up's ranking tables: "  ID  |  loss  |  rate_bpp  |"
        if re.match(r"\s*ID\s*\|\s*loss", line):
            table = []
            tables.append(table)
        elif table is not None and re.match(r"\s*\d+\s*\|\s*" + _NUM, line):
            _, loss, rate = (c.strip() for c in line.split("|")[:3])
            table.append((float(loss), float(rate)))
        elif table is not None and line.strip():
            table = None
    if not tables:
        raise ValueError("no warm-up table in the log")
    cells: dict[str, tuple[float, float]] = {"warm-up": min(tables[-1])}
    ends, pre_quant, last_row = [], None, None
    for i, line in enumerate(lines):
        nums = re.findall(_NUM, line)
        if re.match(r"\s*" + _NUM + r"\s+" + _NUM + r"\s+\d+\s", line):
            last_row = nums
        if line.startswith("Time greedy_quantization") and last_row is not None:
            pre_quant = last_row
        if line.startswith("Performance at the end of the phase"):
            ends.append(re.findall(_NUM, lines[i + 2]))
    ends = ends[-PHASES:]  # a log holding a restarted encode: its last run
    if len(ends) != PHASES or pre_quant is None:
        raise ValueError(f"{len(ends)} phase ends in the log, {PHASES} expected")

    def latent_only(nums: list[str]) -> tuple[float, float]:
        # (loss, rate_bpp, time, rate_mlp_bpp) after the iterations column is dropped
        loss, rate, mlp = float(nums[0]), float(nums[1]), float(nums[3])
        return loss - 1e3 * lmbda * mlp, rate - mlp

    for k, nums in enumerate(ends[:9]):
        cells[str(k)] = latent_only(nums)
    cells["9"] = latent_only(pre_quant)
    cells["9 q"] = latent_only(ends[9])
    cells["10"] = latent_only(ends[10])
    return cells


def trace_ours(loss: str, seed: int, image: Path) -> dict[str, Any]:
    """Encode with our icip24 recipe, recording each phase's end (see the docstring)."""
    import torch

    import inrcodec
    from inrcodec.codecs.coolchic import recipes

    torch.set_num_threads(1)
    phase_fn, quant_fn = recipes.train_cc2_phase, recipes.quantise_networks
    rows: list[tuple[str, float, float]] = []

    def latent_bpp(model: Any, s: Any) -> float:
        with torch.no_grad():
            return float(recipes.forward(model, s, "round")[1]) / model.num_pixels

    def traced_phase(model, loss_, target, s, *args, **kwargs):  # noqa: ANN001, ANN202
        v = phase_fn(model, loss_, target, s, *args, **kwargs)
        rows.append((args[4], 1e3 * v, latent_bpp(model, s)))  # args[4]: "warmup" / "fit"
        return v

    def traced_quant(model, loss_, target, s):  # noqa: ANN001, ANN202
        quant_fn(model, loss_, target, s)
        rows.append(("quantised", 1e3 * recipes.validation(model, loss_, target, s),
                     latent_bpp(model, s)))

    recipes.train_cc2_phase, recipes.quantise_networks = traced_phase, traced_quant
    t = time.process_time()
    try:
        data = bytes(inrcodec.encode(str(image), codec="coolchic-v2", preset="icip24",
                                     loss=OUR_LOSS[loss], seed=seed, device="cpu",
                                     lmbda=LAMBDA))
    finally:
        recipes.train_cc2_phase, recipes.quantise_networks = phase_fn, quant_fn
    ref = inrcodec.read_image(image)
    m = inrcodec.evaluate(ref, inrcodec.decode(data, device="cpu"))
    return {"loss": loss, "seed": seed, "rows": rows, "bytes": len(data),
            "psnr": m["psnr"], "cpu_s": round(time.process_time() - t, 1)}


def ours_cells(trace: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The columns from a trace: the last warm-up round's winner, then the phases in order."""
    rows = trace["rows"]
    warm = [r for r in rows if r[0] == "warmup"]
    fit = [r for r in rows if r[0] != "warmup"]
    if len(fit) != PHASES + 1 or len(warm) < 2:
        raise ValueError(f"trace of seed {trace['seed']}: {len(fit)} phase rows")
    cells = {"warm-up": min((r[1], r[2]) for r in warm[-2:])}  # the last round: 2 candidates
    for k, r in enumerate(fit[:10]):
        cells[COLUMNS[k + 1]] = (r[1], r[2])
    cells["9 q"], cells["10"] = (fit[10][1], fit[10][2]), (fit[11][1], fit[11][2])
    return cells


def report(fork: dict[int, dict], ours: dict[int, dict], loss: str) -> str:
    head = ["side", "seed", *COLUMNS]
    lines = [f"# Cool-chic 2.0 phase by phase, {loss} (kodim23 at half size, lambda 1e-3)", "",
             "Written by `benchmarks/forks_cc2_phases.py`. Validation loss x 1e3 (latents "
             "rounded, x^ on 8-bit levels, the latents' rate only), the latents' bpp under it; "
             "`warm-up`: the warm-up's winner; `9`: phase 9 before the networks are quantised, "
             "`9 q` after.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for side, table in (("fork", fork), ("ours", ours)):
        for seed, cells in sorted(table.items()):
            lines.append(f"| {side} | {seed} | " + " | ".join(
                f"{cells[c][0]:.3f}<br>{cells[c][1]:.3f}" for c in COLUMNS) + " |")
        if len(table) > 1:
            lines.append(f"| {side} | mean | " + " | ".join(
                f"{statistics.mean(t[c][0] for t in table.values()):.3f}"
                for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/work/runs/forks/work"),
                    help="forks_side_by_side.py's work folder")
    ap.add_argument("--loss", choices=sorted(OUR_LOSS), default="mse")
    ap.add_argument("--ours-seeds", default="", help="comma-separated; traced if not stored")
    ap.add_argument("--out", type=Path, default=OUT, help="OUT.jsonl and OUT-LOSS.md")
    args = ap.parse_args()
    image = args.work / "kodim23-half.png"
    fork = {}
    for log in sorted(args.work.glob(f"cc2-{args.loss}-fork-*/log.txt")):
        try:
            fork[int(log.parent.name.rsplit("-", 1)[1])] = parse_fork_log(log.read_text())
        except ValueError as exc:
            print(f"{log}: skipped ({exc})", file=sys.stderr)
    store = args.out.with_suffix(".jsonl")
    traces = [json.loads(x) for x in store.read_text().splitlines()] if store.exists() else []
    for seed in (int(s) for s in args.ours_seeds.split(",") if s):
        if any(t["loss"] == args.loss and t["seed"] == seed for t in traces):
            continue
        if not image.exists():
            sys.exit(f"{image} is missing: run forks_side_by_side.py first")
        trace = trace_ours(args.loss, seed, image)
        store.parent.mkdir(parents=True, exist_ok=True)
        with store.open("a") as fh:
            fh.write(json.dumps(trace) + "\n")
        traces.append(trace)
    ours = {t["seed"]: ours_cells(t) for t in traces if t["loss"] == args.loss}
    md = args.out.parent / f"{args.out.name}-{args.loss}.md"
    md.write_text(report(fork, ours, args.loss))
    print(md.read_text())


if __name__ == "__main__":
    main()
