"""One-off conversion (run 2026-12-01) of the old benchmark runners' result files into result
store exports, numbers unchanged.

Before `inrcodec bench` was the only code that runs experiments, benchmarks/coolchic_kodak.py,
nif_kodak.py, coin_kodim23.py and `inrcodec medical bench` (the SINCO study) each wrote their
own {"meta": ..., "rows": [...]} JSON. For each such file this script loads the spec of
benchmarks/specs/ that describes the recorded run, expands it, matches every old row to its
job (image or slice, codec or label, loss, lambda / network size / quality / target rate) and
stores it with `Store.save(job, Outcome(...))`: the same job id a future
`inrcodec bench SPEC --db ...` gives that job, so a resumed run skips it. The export goes to
benchmarks/results/<spec name>.store.json (SINCO: benchmarks/results/sinco/).

Each converted row carries, in log_json, `converted_from` (the old file, its recorded command,
date and machine) and every field of the old row that has no result column (steps,
section_bytes, macs_per_pixel, load average, params, bpp_paper, knob, the old recon path ...).
Converted rows have no artifacts (the old runners kept no encoded files). Old rows with no job
(the SINCO "Original" reference rows) are listed at the end.

The old files were deleted once converted; to rerun, read them from git:

    python scripts/convert_results.py --git bef984a     # or with the files on disk: no flag
    python scripts/convert_results.py --check           # convert, compare with the committed
                                                        # exports, write nothing
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from inrcodec.bench.grid import Job, expand
from inrcodec.bench.images import ImageRef, load_image
from inrcodec.bench.job import Outcome
from inrcodec.bench.spec import load_spec
from inrcodec.bench.store import Store
from inrcodec.codecs.inr.nif import RATE_PRESETS as NIF_PRESETS
from inrcodec.codecs.registry import get_codec
from inrcodec.io import write_bytes

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SPECS = ROOT / "benchmarks" / "specs"
CONVERTED_ON = "2026-12-01"
SCRIPT = "scripts/convert_results.py"
SINCO_PIXELS = 240 * 240  # SINCO's lambda is per pixel of these one-channel slices

# old row keys that become result columns (the rest goes to log_json)
METRIC_KEYS = ("psnr", "ssim", "msssim", "msssim_db", "lpips")


@dataclass
class Conversion:
    spec: str  # benchmarks/specs/<spec>.toml
    sources: list[str]  # old result files (relative to the repository root)
    out: str  # the export (relative to the repository root)
    match: Callable[[dict[str, Any], list[Job]], Job | None]
    rows_of: Callable[[dict[str, Any]], list[dict[str, Any]]] = lambda d: d["rows"]
    # rows outside the spec that are the same jobs as rows of another conversion (named by
    # its export): checked to hold the same numbers there, then left out here
    duplicates_in: str | None = None


# ---------------------------------------------------------------------------------------------
# matching an old row to its job


def _norm(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return tuple(_norm(x) for x in v)
    return v


def _image_of(job: Job) -> str | int:
    """The old rows' image key: the Kodak name, or the slice of a NIfTI volume."""
    return job.image.slice if job.image.slice is not None else Path(job.image.path).stem


def pick(jobs: list[Job], *, kind: str, image: str | int, codec: str | None = None,
         label: str | None = None, loss: str | None = None,
         rate: dict[str, Any] | None = None) -> Job | None:
    """The one job with these fields (rate: a subset of its rate and settings), else None."""
    found = []
    for j in jobs:
        if j.kind != kind or _image_of(j) != image:
            continue
        if codec is not None and j.codec != codec:
            continue
        if label is not None and j.label != label:
            continue
        if loss is not None and j.loss != loss:
            continue
        have = {**j.settings_dict(), **j.rate_dict()}
        if rate and any(_norm(have.get(k)) != _norm(v) for k, v in rate.items()):
            continue
        found.append(j)
    if len(found) > 1:
        raise SystemExit(f"ambiguous: {len(found)} jobs for {kind} {image} {codec} {label} "
                         f"{loss} {rate}")
    return found[0] if found else None


def match_kodak(row: dict[str, Any], jobs: list[Job]) -> Job | None:
    """Cool-chic and AVIF rows of coolchic_kodak.py (one INR codec per spec)."""
    if row["codec"] == "avif":
        return pick(jobs, kind="baseline", image=row["image"], codec="avif",
                    rate={"quality": row["quality"]})
    return pick(jobs, kind="inr", image=row["image"], codec=row["codec"], loss=row["loss"],
                rate={"lmbda": row["lmbda"]})


def match_nif(row: dict[str, Any], jobs: list[Job]) -> Job | None:
    preset = NIF_PRESETS[row["preset"]]
    return pick(jobs, kind="inr", image=row["image"], codec="nif", loss="lcssim",
                rate={"hidden": preset["hidden"], "mod_hidden": preset["mod_hidden"]})


def match_coin(row: dict[str, Any], jobs: list[Job]) -> Job | None:
    layers, width = (int(v) for v in row["size"].split("x"))
    return pick(jobs, kind="inr", image=row["image"], codec=row["codec"], loss="mse",
                rate={"layers": layers, "width": width})


def sinco_loss_name(lam: float, per_pixel: bool = True) -> str:
    """The registry loss the old study trained: mean-MSE + lambda / pixels * (1 - Dice)
    (per_pixel, SINCO's scale) or mean-MSE + lambda * (1 - Dice) (the first attempt)."""
    if lam == 0:
        return "mse"
    return f"mse+{lam / SINCO_PIXELS!r}*sinco" if per_pixel else f"mse+{lam:g}*sinco"


def match_sinco(per_pixel: bool) -> Callable[[dict[str, Any], list[Job]], Job | None]:
    def match(row: dict[str, Any], jobs: list[Job]) -> Job | None:
        group = row.get("group")
        if group == "reference":  # the uncompressed slice: no codec, no job
            return None
        if group == "classical":
            return pick(jobs, kind="baseline", image=row["slice"], codec=row["codec"],
                        rate={"target_bpp": row["target_bpp"]})
        loss = sinco_loss_name(row["lam"], per_pixel)
        if group == "extra":  # "coolchic-v1:fast lambda=0": no label, the codec's own name
            return pick(jobs, kind="inr", image=row["slice"], codec=row["codec"], label="",
                        loss=loss, rate=row["settings"])
        # "COIN", "SINCO (INR) lambda=0.5", "COIN @0.3": Table 1's label, the network size
        label = re.sub(r" (@\S+|lambda=\S+)$", "", row["method"])
        return pick(jobs, kind="inr", image=row["slice"], codec=row["codec"], label=label,
                    loss=loss, rate=row["settings"])
    return match


# ---------------------------------------------------------------------------------------------
# settings the recorded rows state, against what the spec's job resolves to today


def check_settings(job: Job, row: dict[str, Any], source: str) -> None:
    """Refuse a spec that does not reproduce the recorded settings."""
    if job.kind != "inr":
        return
    cfg = vars(get_codec(job.codec).make_settings(
        job.variant, **job.settings_dict(), **job.rate_dict()))
    recorded: dict[str, Any] = {}
    if isinstance(row.get("settings"), dict):
        recorded.update(row["settings"])
    if isinstance(row.get("steps"), dict):  # Cool-chic: {"warmup": ..., "fit": ..., "ste": ...}
        st = row["steps"]
        recorded.update(steps=st["fit"], ste_steps=st["ste"])
        if cfg["warmup_candidates"] * cfg["warmup_steps"] != st["warmup"]:
            raise SystemExit(f"{source}: {job.curve} warm-up {st['warmup']} steps recorded, "
                             f"the spec gives {cfg['warmup_candidates']} x "
                             f"{cfg['warmup_steps']}")
    if "fit_steps" in row:  # NIF
        recorded.update(steps=row["fit_steps"], qat_steps=row["qat_steps"])
    for key, value in recorded.items():
        if _norm(cfg.get(key)) != _norm(value):
            raise SystemExit(f"{source}: {job.curve} {job.image.name}: recorded {key}={value!r},"
                             f" the spec resolves to {cfg.get(key)!r}")


# ---------------------------------------------------------------------------------------------
# old row -> Outcome


@cache
def image_size(ref: ImageRef) -> tuple[int, int]:
    image, _ = load_image(ref)
    return image.width, image.height


def _meta_number(pattern: str, text: str) -> str | None:
    m = re.search(pattern, text or "")
    return m.group(1) if m else None


def outcome(job: Job, row: dict[str, Any], meta: dict[str, Any], source: str) -> Outcome:
    width, height = image_size(job.image)
    pixels = width * height
    machine = meta.get("machine", "")
    old = dict(row)
    cols: dict[str, Any] = {k: old.pop(k, None) for k in METRIC_KEYS}
    bpp = old.pop("bpp")
    size = old.pop("bytes", None)
    if size is None:  # whole-file bpp: the file's size is an integer number of bytes
        exact = bpp * pixels / 8.0
        size = round(exact) if abs(exact - round(exact)) < 1e-6 else None
    payload = old.pop("payload_bpp", None)
    if payload is None and job.kind == "baseline":
        payload = bpp  # a baseline's file is its payload (as `inrcodec bench` records it)
    seconds = old.get("seconds")  # SINCO: the encode call (INR), the rate search (classical)
    encode = old.pop("encode_seconds", seconds)
    decode = old.pop("decode_seconds", None)
    dice = old.pop("dice", None)
    settings = old.pop("settings", None)
    if job.kind == "baseline":
        settings = {"quality": old.pop("quality")} if "quality" in old else {
            "target_bpp": old.pop("target_bpp"), "knob": old.get("knob")}
    threads = old.get("threads") or _meta_number(r"(\d+) torch thread", machine)
    # the run's description: the scalar fields of the old meta (not the SINCO study's method
    # list and U-Net training record, which the README summarises)
    small_meta = {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)}
    if "unet" in meta:
        small_meta["unet"] = meta["unet"].get("path")
    log = {**old, "converted_from": {"file": source, "script": SCRIPT,
                                     "converted_on": CONVERTED_ON, **small_meta}}
    cols.update(
        bpp=bpp, payload_bpp=payload, bytes=size, width=width, height=height,
        encode_seconds=encode, decode_seconds=decode,
        # coolchic_kodak.py asserted decode(file) == the encoder's reconstruction
        decode_max_diff=0 if "section_bytes" in row else None,
        device_used="cpu", threads=int(threads) if threads else None, host=None,
        inrcodec_version=_meta_number(r"inrcodec (\d[\w.]*)", machine),
        torch_version=_meta_number(r"torch (\d[\w.+]*)", machine),
        started_at=None, finished_at=meta.get("date"), error=None,
        settings_json=json.dumps(settings or {}, sort_keys=True, default=str),
        log_json=json.dumps(log, sort_keys=True, default=str))
    if dice is not None:
        cols["task_metrics_json"] = json.dumps({"dice": dice}, sort_keys=True)
    return Outcome(job.job_id, "done", cols)


# ---------------------------------------------------------------------------------------------


def kodak(spec: str, old: str) -> Conversion:
    return Conversion(spec, [f"benchmarks/results/{old}.json"],
                      f"benchmarks/results/{spec}.store.json", match_kodak)


CONVERSIONS = [
    kodak("coolchic-v1-kodak6-half", "coolchic_v1_kodak6half"),
    kodak("coolchic-v1-kodak6-half-clip", "coolchic_v1_kodak6half_clip"),
    kodak("coolchic-v1-kodak6-half-default", "coolchic_v1_kodak6half_default"),
    kodak("coolchic-v1-kodak6-half-ste300-clip", "coolchic_v1_kodak6half_ste300_clip"),
    kodak("coolchic-v2-kodak6-half", "coolchic_v2_kodak6half"),
    kodak("coolchic-v2-kodak6-half-noclip", "coolchic_v2_kodak6half_noclip"),
    kodak("coolchic-v2-kodak6-half-clip-up01", "coolchic_v2_kodak6half_clip_up01"),
    kodak("coolchic-v2-kodak6-half-arm16", "coolchic_v2_kodak6half_arm16"),
    kodak("coolchic-v2-kodak6-half-default", "coolchic_v2_kodak6half_default"),
    kodak("coolchic-v2-kodak6-half-default-noclip", "coolchic_v2_kodak6half_default_noclip"),
    kodak("coolchic-v2-kodak6-half-slow", "coolchic_v2_kodak6half_slow"),
    kodak("coolchic-v2-kodak6", "coolchic_v2_kodak6"),
    # this file also holds AVIF on kodim03 and kodim20, where v2 did not run: the same jobs,
    # with the same numbers, as in coolchic-v2-kodak6 (AVIF runs before the INR codec)
    Conversion("coolchic-v2-kodak6-noclip", ["benchmarks/results/coolchic_v2_kodak6_noclip.json"],
               "benchmarks/results/coolchic-v2-kodak6-noclip.store.json", match_kodak,
               duplicates_in="benchmarks/results/coolchic-v2-kodak6.store.json"),
    Conversion("nif-kodak6-half", ["benchmarks/results/nif_kodak6-half.json"],
               "benchmarks/results/nif-kodak6-half.store.json", match_nif),
    Conversion("nif-kodak6", ["benchmarks/results/nif_kodak6.json"],
               "benchmarks/results/nif-kodak6.store.json", match_nif),
    Conversion("coin-kodim23", ["benchmarks/results/coin_kodim23.json"],
               "benchmarks/results/coin-kodim23.store.json", match_coin),
    # results.json is the merge of part1..part7 (every part row is in it, unchanged)
    Conversion("sinco-table1", ["benchmarks/results/sinco/results.json"],
               "benchmarks/results/sinco/sinco-table1.store.json", match_sinco(True),
               rows_of=lambda d: [r for r in d["rows"]
                                  if r.get("group") not in ("rate", "extra")]),
    Conversion("sinco-low-rate", ["benchmarks/results/sinco/results.json"],
               "benchmarks/results/sinco/sinco-low-rate.store.json", match_sinco(True),
               rows_of=lambda d: [r for r in d["rows"] if r.get("group") in ("rate", "extra")]),
    # a separate run of the classical codecs on the same ten slices (the "real bar")
    Conversion("sinco-table1", ["benchmarks/results/sinco/classical10/results.json"],
               "benchmarks/results/sinco/classical10.store.json", match_sinco(True)),
    Conversion("sinco-attempt-mean-mse",
               ["benchmarks/results/sinco/attempt_mean_mse/part1.json",
                "benchmarks/results/sinco/attempt_mean_mse/part2.json"],
               "benchmarks/results/sinco/sinco-attempt-mean-mse.store.json",
               match_sinco(False)),
]


def read_source(path: str, rev: str | None) -> dict[str, Any]:
    if rev is None:
        p = ROOT / path
        if not p.is_file():
            raise SystemExit(f"{path}: not here (deleted once converted): rerun with "
                             f"--git <commit that has it>, e.g. --git bef984a")
        return json.loads(p.read_text())
    text = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    return json.loads(text)


def duplicate_in(c: Conversion, row: dict[str, Any], rev: str | None) -> str | None:
    """Where the same job holds the same numbers (another conversion), else None."""
    if c.duplicates_in is None:
        return None
    other = next(o for o in CONVERSIONS if o.out == c.duplicates_in)
    jobs = expand(load_spec(SPECS / f"{other.spec}.toml"))
    job = other.match(row, jobs)
    if job is None:
        return None
    for source in other.sources:
        for r in other.rows_of(read_source(source, rev)):
            if other.match(r, jobs) == job:
                same = all(r.get(k) == row.get(k) for k in ("bpp", *METRIC_KEYS))
                return f"{other.out} (same job, same numbers)" if same else None
    return None


def convert(c: Conversion, rev: str | None, tmp: Path) -> tuple[dict[str, Any], list[str]]:
    spec = load_spec(SPECS / f"{c.spec}.toml")
    jobs = expand(spec)
    unmatched: list[str] = []
    with Store(tmp / f"{Path(c.out).stem}.sqlite") as store:
        for source in c.sources:
            data = read_source(source, rev)
            meta = data.get("meta", {})
            rows = c.rows_of(data)
            pairs = []
            for row in rows:
                job = c.match(row, jobs)
                if job is None:
                    what = row.get("method") or row.get("codec")
                    where = (f"slice {row['slice']}" if "slice" in row else row.get("image"))
                    knob = row.get("quality", row.get("target_bpp", row.get("lmbda")))
                    dup = duplicate_in(c, row, rev)
                    why = (f"in {dup}" if dup else "the uncompressed slice (no codec, no job)"
                           if row.get("group") == "reference" else "no job")
                    label = " ".join(str(x) for x in (what, where, knob) if x is not None)
                    unmatched.append(f"{source}: {label}: {why}")
                    continue
                check_settings(job, row, source)
                pairs.append((job, row))
            ids = [j.job_id for j, _ in pairs]
            dup = {i for i in ids if ids.count(i) > 1}
            if dup:
                raise SystemExit(f"{source}: two rows for the job(s) {sorted(dup)}")
            command = (f"python {SCRIPT} (converted on {CONVERTED_ON} from {source}, "
                       f"recorded by: {meta.get('command', '?')})")
            run_id = store.start_run(command, spec.to_dict(), None, "converted", len(jobs),
                                     len(pairs))
            for job, row in pairs:
                store.save(job, outcome(job, row, meta, source), run_id)
            store.finish_run(run_id, len(pairs), 0)
        return store.export(), unmatched


def dumps(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, default=str) + "\n").encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--git", metavar="REV", help="read the old files from this commit")
    ap.add_argument("--check", action="store_true", help="compare the result rows with the "
                    "committed exports instead of writing them")
    ap.add_argument("--only", help="convert only the exports whose name contains this")
    a = ap.parse_args()
    failed = False
    all_unmatched = []
    with tempfile.TemporaryDirectory() as tmp:
        for c in CONVERSIONS:
            if a.only and a.only not in c.out:
                continue
            data, unmatched = convert(c, a.git, Path(tmp))
            all_unmatched += unmatched
            n = len(data["results"])
            out = ROOT / c.out
            if a.check:
                old = json.loads(out.read_text())
                same = _results(old) == _results(json.loads(dumps(data)))
                failed |= not same
                print(f"{c.out}: {n} rows, {'same' if same else 'DIFFERENT'}")
            else:
                write_bytes(out, dumps(data))
                print(f"{c.out}: {n} rows ({', '.join(c.sources)} -> spec {c.spec})")
    if all_unmatched:
        print(f"\n{len(all_unmatched)} old rows with no job (kept out of the exports):")
        for u in all_unmatched:
            print(f"  {u}")
    sys.exit(1 if failed else 0)


def _results(export: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows without what depends on where and when the conversion ran."""
    skip = {"image_path", "job_json", "run_id"}
    return [{k: v for k, v in r.items() if k not in skip} for r in export["results"]]


if __name__ == "__main__":
    main()
