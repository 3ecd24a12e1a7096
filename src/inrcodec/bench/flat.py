"""One line per finished job, with the columns a spreadsheet or a paper table wants: what was
coded (image, codec, preset, label, loss, rate point, seed) and what it gave (bpp, PSNR, SSIM,
MS-SSIM and its dB, LPIPS, each task metric, seconds). `inrcodec export DB -o results.csv`."""

from __future__ import annotations

import csv
import json
import os
from typing import Any

from .curves import task_metric_names, with_task_metrics

COLUMNS = ("image", "codec", "preset", "label", "loss", "rate", "seed", "bytes", "bpp",
           "psnr", "ssim", "msssim", "msssim_db", "lpips")
# reused_from: the job whose encode a row copies (the same encode under another label)
TIMES = ("encode_seconds", "decode_seconds", "threads", "device_used", "job_id", "reused_from")


def rate_point(row: dict[str, Any]) -> str:
    """The job's rate point as `key=value` pairs (`quality=50`, `lmbda=0.001`), or ''."""
    rate = json.loads(row.get("rate_json") or "{}")
    if row.get("quality") is not None and "quality" not in rate:
        rate["quality"] = row["quality"]
    return " ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in
                    sorted(rate.items()))


def flat_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done = [r for r in rows if r["status"] == "done"]
    tasks = task_metric_names(done)
    out = []
    for r in with_task_metrics(done):
        job = json.loads(r.get("job_json") or "{}")
        line = {"image": r["image"], "codec": r["codec"],
                "preset": r["variant"] if r["kind"] == "inr" else "",
                "label": job.get("label") or "", "loss": r["loss"] or "",
                "rate": rate_point(r), "seed": r["seed"] if r["kind"] == "inr" else ""}
        line |= {k: r.get(k) for k in COLUMNS[7:]}
        line |= {t: r[t] for t in tasks}
        line |= {k: r.get(k) for k in TIMES}
        out.append(line)
    return out


def write_flat_csv(rows: list[dict[str, Any]], path: str | os.PathLike) -> int:
    """Write flat_rows(rows) to `path` (the caller makes the write atomic); return the count."""
    lines = flat_rows(rows)
    fields = list(lines[0]) if lines else [*COLUMNS, *TIMES]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(lines)
    return len(lines)
