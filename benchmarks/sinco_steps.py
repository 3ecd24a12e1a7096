"""Issue 18 item 4: PSNR (and Dice) against training steps, from the sinco-steps study's export.

    inrcodec export runs/sinco-steps.sqlite -o benchmarks/results/sinco/sinco-steps.store.json
    python benchmarks/sinco_steps.py

Writes benchmarks/results/sinco/sinco_steps.md: per network and slice, the decoded file's PSNR
and the segmenter's Dice at each step count (every point is its own encode from scratch), the
real file's bpp, SINCO's bpp (16 x parameters / pixels) and the encode's seconds. Notes below
the tables are kept when it is rewritten.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from provenance import ROOT, write_report

RESULTS = ROOT / "benchmarks" / "results" / "sinco"


def table(rows: list[dict]) -> list[str]:
    by: dict[tuple[str, str], dict[int, dict]] = defaultdict(dict)
    for r in rows:
        if r.get("status", "done") != "done" or r.get("psnr") is None:
            continue
        steps = json.loads(r["job_json"])["rate"]["steps"]
        by[(r["curve"], r["image"])][steps] = r
    all_steps = sorted({s for v in by.values() for s in v})
    head = " | ".join(f"{s:,} steps" for s in all_steps)
    lines = [f"| network | slice | {head} | real bpp | SINCO bpp |",
             "|---|---|" + "---|" * len(all_steps) + "---|---|"]
    for (curve, image), points in sorted(by.items()):
        cells = []
        for s in all_steps:
            r = points.get(s)
            if r is None:
                cells.append("not run")
                continue
            dice = json.loads(r.get("task_metrics_json") or "{}").get("dice")
            dice_s = f", Dice {dice:.3f}" if dice is not None else ""
            cells.append(f"{r['psnr']:.2f} dB{dice_s} ({r['encode_seconds']:.0f} s)")
        any_row = next(iter(points.values()))
        params = json.loads(any_row["log_json"]).get("num_params")
        paper = 16 * params / (any_row["width"] * any_row["height"]) if params else None
        bpps = [r["bpp"] for r in points.values()]
        lines.append(f"| {curve.split('|')[0]} | {image} | " + " | ".join(cells)
                     + f" | {min(bpps):.3f}-{max(bpps):.3f} | "
                     + (f"{paper:.3f}" if paper else "-") + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default=str(RESULTS / "sinco-steps.store.json"))
    ap.add_argument("--out", default=str(RESULTS / "sinco_steps.md"))
    args = ap.parse_args()
    rows = json.loads(Path(args.store).read_text())["results"]
    out = Path(args.out)
    lines = ["# SINCO: PSNR against training steps (`benchmarks/specs/sinco-steps.toml`)", "",
             f"Written by `benchmarks/sinco_steps.py` from `{Path(args.store).name}` "
             f"({len(rows)} rows). Each cell: the decoded file's PSNR, the segmenter's Dice on "
             "it and the encode's seconds (one thread); every step count is a separate encode "
             "from scratch.", "", *table(rows), ""]
    write_report(out, "\n".join(lines))


if __name__ == "__main__":
    main()
