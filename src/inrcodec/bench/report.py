"""`inrcodec report DB -o DIR`: a static HTML page, its figures, and CSV files.

    DIR/index.html        the report (no scripts, relative links only)
    DIR/figures/*.png|svg RD curves per architecture
    DIR/crops/...         visual crops (original, each loss, each baseline)
    DIR/results.csv       every job row         DIR/curves.csv    averaged RD points
    DIR/bd.csv            BD-rate / BD-metric   DIR/findings.csv  best loss per metric
    DIR/timing.csv        seconds per image per codec configuration

Every number comes from the database; nothing is typed in.
"""

from __future__ import annotations

import csv
import datetime as _dt
import html
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..image import Image
from ..io import image_to_pil, read_image
from . import plots
from .bdrate import bd
from .curves import (
    HIGHER_IS_BETTER,
    METRIC_LABELS,
    METRICS,
    Curve,
    anchor_loss,
    build_curves,
    common_images,
)
from .job import decode_source
from .store import Store


@dataclass
class BDRow:
    architecture: str
    metric: str
    loss: str
    anchor: str
    bd_rate: float
    bd_metric: float
    overlap: float


# ---------------------------------------------------------------------------------------------
# numbers


def bd_table(curves: list[Curve]) -> list[BDRow]:
    """Each loss of each architecture against that architecture's MSE loss and each baseline."""
    rows: list[BDRow] = []
    base = [c for c in curves if c.kind == "baseline"]
    for arch in sorted({c.architecture for c in curves if c.kind == "inr"}):
        inr = [c for c in curves if c.kind == "inr" and c.architecture == arch]
        anchor_name = anchor_loss([c.loss for c in inr])
        anchors = [c for c in inr if c.loss == anchor_name] + base
        for metric in METRICS:
            for test in inr:
                for a in anchors:
                    if a is test:
                        continue
                    r = bd(*a.series(metric), *test.series(metric), HIGHER_IS_BETTER[metric])
                    label = a.loss if a.kind == "inr" else a.label
                    rows.append(BDRow(arch, metric, test.loss, label, r.bd_rate, r.bd_metric,
                                      r.overlap))
    return rows


def findings(curves: list[Curve], bd_rows: list[BDRow]) -> list[dict[str, Any]]:
    """Per architecture and metric: the loss with the lowest BD-rate against the MSE anchor
    (the anchor counts as 0 %) and its margin over the runner-up, in percentage points."""
    out = []
    for arch in sorted({c.architecture for c in curves if c.kind == "inr"}):
        losses = [c.loss for c in curves if c.kind == "inr" and c.architecture == arch]
        anchor = anchor_loss(losses)
        for metric in METRICS:
            scores = {anchor: 0.0} if anchor else {}
            for r in bd_rows:
                if (r.architecture == arch and r.metric == metric and r.anchor == anchor
                        and math.isfinite(r.bd_rate)):
                    scores[r.loss] = r.bd_rate
            ranked = sorted(scores.items(), key=lambda kv: kv[1])
            row: dict[str, Any] = {"architecture": arch, "metric": metric, "anchor": anchor or "",
                                   "losses_compared": len(ranked)}
            if anchor is None or len(ranked) < 2:
                note = ("no mse/rmse curve to compare against" if anchor is None else
                        "no BD-rate: metric not measured or curves do not overlap")
                row.update(best_loss="", bd_rate_vs_anchor=math.nan, margin_pp=math.nan,
                           runner_up="", note=note)
            else:
                row.update(best_loss=ranked[0][0], bd_rate_vs_anchor=ranked[0][1],
                           runner_up=ranked[1][0], margin_pp=ranked[1][1] - ranked[0][1],
                           note="")
            out.append(row)
    return out


def timing(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["status"] == "done":
            groups.setdefault(r["curve"], []).append(r)
    out = []
    for curve, rs in sorted(groups.items(), key=lambda kv: (kv[1][0]["kind"] != "inr", kv[0])):
        pixels = [r["width"] * r["height"] for r in rs]
        enc = [r["encode_seconds"] for r in rs]
        dec = [r["decode_seconds"] for r in rs]
        out.append({
            "curve": curve, "kind": rs[0]["kind"], "jobs": len(rs),
            "mean_pixels": float(np.mean(pixels)),
            "encode_s_mean": float(np.mean(enc)), "encode_s_max": float(np.max(enc)),
            "decode_s_mean": float(np.mean(dec)), "decode_s_max": float(np.max(dec)),
            "devices": ",".join(sorted({str(r["device_used"]) for r in rs})),
            "threads": ",".join(sorted({str(r["threads"]) for r in rs})),
            "hosts": ",".join(sorted({str(r["host"]) for r in rs})),
        })
    return out


# ---------------------------------------------------------------------------------------------
# visual crops


def detailed_window(image: Image, size: int) -> tuple[int, int, int, int]:
    """The size x size window with the most gradient energy (the most telling crop)."""
    h, w = image.height, image.width
    size = min(size, h, w)
    g = image.data.mean(0).numpy().astype(np.float64)
    energy = np.zeros_like(g)
    energy[:, 1:] += np.abs(np.diff(g, axis=1))
    energy[1:, :] += np.abs(np.diff(g, axis=0))
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    stride = max(1, size // 4)
    best, box = -1.0, (0, 0, size, size)
    for y in range(0, h - size + 1, stride):
        for x in range(0, w - size + 1, stride):
            s = (integral[y + size, x + size] - integral[y, x + size] - integral[y + size, x]
                 + integral[y, x])
            if s > best:
                best, box = s, (x, y, x + size, y + size)
    return box


def _nearest(rows: list[dict[str, Any]], bpp: float) -> dict[str, Any] | None:
    rows = [r for r in rows if r["bpp"] and r["decoded_path"]]
    if not rows:
        return None
    return min(rows, key=lambda r: (abs(math.log(r["bpp"] / bpp)), r["seed"]))


def _save_crop(image: Image, box: tuple[int, int, int, int], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image_to_pil(image).crop(box).save(path)


def visual_crops(store: Store, rows: list[dict[str, Any]], curves: list[Curve], image: str,
                 size: int, out_dir: Path) -> list[dict[str, Any]]:
    """Per architecture: original and every loss / baseline at the bpp nearest to the anchor's
    middle rate point on `image`."""
    done = [r for r in rows if r["status"] == "done" and r["image"] == image]
    if not done:
        return []
    ref_row = done[0]
    original = decode_source(Path(ref_row["image_path"]).read_bytes(), ref_row["reduce"],
                             json.loads(ref_row["crop"]) if ref_row["crop"] else None,
                             ref_row["image_path"])
    box = detailed_window(original, size)
    sections = []
    base_labels = [c.label for c in curves if c.kind == "baseline"]
    for arch in sorted({c.architecture for c in curves if c.kind == "inr"}):
        arch_rows = [r for r in done if r["kind"] == "inr" and r["architecture"] == arch]
        losses = [c.loss for c in curves if c.kind == "inr" and c.architecture == arch]
        anchor = anchor_loss(losses) or (losses[0] if losses else None)
        anchor_rows = sorted((r for r in arch_rows if r["loss"] == anchor),
                             key=lambda r: r["bpp"])
        if not anchor_rows:
            continue
        target = anchor_rows[len(anchor_rows) // 2]["bpp"]
        folder = out_dir / plots._slug(arch)
        _save_crop(original, box, folder / "original.png")
        tiles = [{"label": "original", "path": folder / "original.png", "row": None}]
        for label, kind in [(loss, "inr") for loss in losses] + [(b, "baseline")
                                                                  for b in base_labels]:
            cands = [r for r in (arch_rows if kind == "inr" else done)
                     if (r["loss"] == label if kind == "inr" else r["curve"] == label)]
            r = _nearest(cands, target)
            if r is None:
                continue
            decoded = read_image(store.artifact(r["decoded_path"]))
            p = folder / f"{plots._slug(label)}.png"
            _save_crop(decoded, box, p)
            tiles.append({"label": label, "path": p, "row": r})
        sections.append({"architecture": arch, "target_bpp": target, "box": box,
                         "tiles": tiles, "image": image})
    return sections


# ---------------------------------------------------------------------------------------------
# output


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        if math.isinf(v):
            return "∞"
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        path.write_text("")
        return
    keys = list(rows[0])
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _table(headers: list[str], rows: list[list[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _rel(path: Path, root: Path) -> str:
    return html.escape(os.path.relpath(path, root).replace(os.sep, "/"))


CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.good{background:#e5f5e0}.bad{background:#fdecea}
figure{margin:0 0 1.5em}figure img{max-width:100%;border:1px solid #eee}
.crops{display:flex;flex-wrap:wrap;gap:.6em}.crops figure{margin:0;text-align:center}
.crops img{image-rendering:pixelated;border:1px solid #ccc}
figcaption{font-size:.78em;color:#444}.note{color:#666;font-size:.9em}
code{background:#f5f5f5;padding:0 .2em}
"""


LOW_OVERLAP = 0.5


def _bd_cell(v: float, lower_better: bool = True, overlap: float = 1.0) -> str:
    if not math.isfinite(v):
        return "n/a"
    good = v < 0 if lower_better else v > 0
    cls = "good" if good else "bad"
    mark = "†" if overlap < LOW_OVERLAP else ""
    return f'<span class="{cls}">{v:+.2f}{mark}</span>'


def write_report(db: str | os.PathLike, out: str | os.PathLike, *, crop_image: str | None = None,
                 crop_size: int = 128) -> Path:
    out = Path(out)
    with Store(db, create=False) as store:
        rows = store.rows()
        runs = store.runs()
        if not rows:
            raise ConfigError(f"{db}: no results yet")
        out.mkdir(parents=True, exist_ok=True)
        done = [r for r in rows if r["status"] == "done"]
        failed = [r for r in rows if r["status"] == "failed"]
        images = common_images(done)
        curves = build_curves(rows, images)
        figures = plots.all_figures(curves, out / "figures")
        bd_rows = bd_table(curves)
        found = findings(curves, bd_rows)
        times = timing(rows)
        crop_img = crop_image or (images[0] if images else None)
        if crop_image and crop_image not in {r["image"] for r in done}:
            raise ConfigError(f"--crop-image {crop_image!r} is not in the results "
                              f"(images: {', '.join(sorted({r['image'] for r in done}))})")
        crops = visual_crops(store, rows, curves, crop_img, crop_size, out / "crops") \
            if crop_img else []
    _write_csv(out / "results.csv", rows)
    _write_csv(out / "curves.csv", [
        {"curve": c.label, "kind": c.kind, "architecture": c.architecture, "loss": c.loss,
         "rate": p.rate_key, "images": p.images, "bpp": p.bpp, **p.values}
        for c in curves for p in c.points])
    _write_csv(out / "bd.csv", [r.__dict__ for r in bd_rows])
    _write_csv(out / "findings.csv", found)
    _write_csv(out / "timing.csv", times)
    page = _html(out, db, rows, done, failed, images, curves, figures, bd_rows, found, times,
                 crops, runs)
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _html(out, db, rows, done, failed, images, curves, figures, bd_rows, found, times, crops,
          runs) -> str:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>inrcodec benchmark report</title><style>{CSS}</style></head><body>"]
    parts.append("<h1>inrcodec benchmark report</h1>")
    versions = sorted({f"inrcodec {r['inrcodec_version']}, torch {r['torch_version']}, "
                       f"Python {r['python_version']}" for r in done})
    hosts = sorted({f"{r['host']} ({r['device_used']}, {r['threads']} threads)" for r in done})
    parts.append(
        f"<p>Database <code>{html.escape(str(db))}</code>: {len(done)} jobs done, "
        f"{len(failed)} failed. Generated {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC.<br>"
        f"Images averaged ({len(images)}): {html.escape(', '.join(images))}.<br>"
        f"Software: {html.escape('; '.join(versions))}.<br>"
        f"Machines: {html.escape('; '.join(hosts))}.</p>")
    parts.append(
        "<p class='note'>Each point is the mean bpp and mean metric over the images above, at "
        "one rate point (whole-file bpp, headers included). Curves are compared only on the "
        "images every curve has results for. PSNR is on the 8-bit RGB codes; MS-SSIM dB = "
        "−10·log10(1−MS-SSIM); LPIPS (AlexNet) is lower-is-better.</p>")

    parts.append("<h2>Rate-distortion curves</h2>")
    for arch, paths in figures.items():
        png, svg = paths
        parts.append(f"<figure><img src='{_rel(png, out)}' alt='RD curves {html.escape(arch)}'>"
                     f"<figcaption>{html.escape(arch)} (<a href='{_rel(svg, out)}'>SVG</a>)"
                     f"</figcaption></figure>")

    parts.append("<h2>Findings</h2>")
    parts.append("<p class='note'>For each architecture and metric: the loss with the lowest "
                 "BD-rate against the MSE-family anchor (the anchor itself scores 0 %), and its "
                 "margin over the runner-up in percentage points of BD-rate.</p>")
    parts.append(_table(
        ["architecture", "metric", "best loss", "BD-rate vs anchor (%)", "runner-up",
         "margin (pp)", "losses compared", "note"],
        [[_fmt(f["architecture"]), METRIC_LABELS[f["metric"]], _fmt(f["best_loss"]),
          _bd_cell(f["bd_rate_vs_anchor"]), _fmt(f["runner_up"]), _fmt(f["margin_pp"], 2),
          f["losses_compared"], _fmt(f["note"])] for f in found]))

    parts.append("<h2>BD-rate and BD-metric</h2>")
    parts.append("<p class='note'>BD-rate (%): bits the loss needs relative to the anchor at "
                 "equal quality (negative = fewer bits, green). BD-metric: quality difference at "
                 "equal rate (dB for PSNR and MS-SSIM; for LPIPS negative is better). Akima "
                 "interpolation over each curve's efficient points; n/a where the curves do not "
                 f"overlap; † where they share less than {LOW_OVERLAP:.0%} of their quality "
                 "range (an extrapolation-prone number). All pairs, with their overlap, are in "
                 "bd.csv.</p>")
    for arch in sorted({r.architecture for r in bd_rows}):
        for metric in METRICS:
            sel = [r for r in bd_rows if r.architecture == arch and r.metric == metric]
            anchors = list(dict.fromkeys(r.anchor for r in sel))
            losses = list(dict.fromkeys(r.loss for r in sel))
            lookup = {(r.loss, r.anchor): r for r in sel}
            headers = ["loss"]
            for a in anchors:
                headers += [f"BD-rate vs {a} (%)", f"BD-{metric} vs {a}"]
            table_rows = []
            for loss in losses:
                cells: list[Any] = [html.escape(loss)]
                for a in anchors:
                    r = lookup.get((loss, a))
                    if r is None:
                        cells += ["–", "–"]
                    else:
                        cells += [_bd_cell(r.bd_rate, overlap=r.overlap),
                                  _bd_cell(r.bd_metric, metric == "lpips", r.overlap)]
                table_rows.append(cells)
            parts.append(f"<h3>{html.escape(arch)}: {METRIC_LABELS[metric]}</h3>")
            parts.append(_table(headers, table_rows, "bd"))

    parts.append("<h2>Visual comparison</h2>")
    if not crops:
        parts.append("<p>No INR results to compare visually.</p>")
    for sec in crops:
        x0, y0, x1, y1 = sec["box"]
        parts.append(f"<h3>{html.escape(sec['architecture'])}: {html.escape(sec['image'])}, "
                     f"crop ({x0}, {y0})–({x1}, {y1}), nearest to {sec['target_bpp']:.3f} bpp"
                     f"</h3><div class='crops'>")
        side = 2 * (x1 - x0)
        for t in sec["tiles"]:
            r = t["row"]
            cap = html.escape(t["label"]) if r is None else (
                f"{html.escape(t['label'])}<br>{r['bpp']:.3f} bpp, {_fmt(r['psnr'], 2)} dB"
                f"<br>LPIPS {_fmt(r['lpips'], 3)}")
            parts.append(f"<figure><img src='{_rel(t['path'], out)}' width='{side}' "
                         f"height='{int(side * (y1 - y0) / (x1 - x0))}' "
                         f"alt='{html.escape(t['label'])}'><figcaption>{cap}</figcaption></figure>")
        parts.append("</div>")

    parts.append("<h2>Timing</h2><p class='note'>Seconds per image (all finished jobs; "
                 "encode includes training and entropy coding).</p>")
    parts.append(_table(
        ["codec / loss", "jobs", "pixels (mean)", "encode s (mean)", "encode s (max)",
         "decode s (mean)", "decode s (max)", "device", "threads", "hosts"],
        [[html.escape(t["curve"]), t["jobs"], f"{t['mean_pixels']:.0f}",
          _fmt(t["encode_s_mean"], 2), _fmt(t["encode_s_max"], 2), _fmt(t["decode_s_mean"], 3),
          _fmt(t["decode_s_max"], 3), _fmt(t["devices"]), _fmt(t["threads"]),
          _fmt(t["hosts"])] for t in times]))

    parts.append("<h2>Averaged points</h2>")
    parts.append(_table(
        ["curve", "rate point", "images", "bpp", "PSNR", "MS-SSIM dB", "LPIPS"],
        [[html.escape(c.label), html.escape(p.rate_key), p.images, _fmt(p.bpp, 4),
          _fmt(p.values["psnr"], 2), _fmt(p.values["msssim_db"], 2),
          _fmt(p.values["lpips"], 4)] for c in curves for p in c.points]))

    if failed:
        parts.append("<h2>Failed jobs</h2>")
        parts.append(_table(["curve", "image", "rate", "error"],
                            [[html.escape(r["curve"]), html.escape(r["image"]),
                              html.escape(r["rate_json"]), html.escape(r["error"] or "")]
                             for r in failed]))

    parts.append("<h2>Runs</h2>")
    parts.append(_table(
        ["run", "started (UTC)", "finished", "command", "executor", "host", "jobs (todo/total)",
         "done", "failed"],
        [[r["run_id"], _fmt(r["started_at"]), _fmt(r["finished_at"]),
          f"<code>{html.escape(r['command'] or '')}</code>", _fmt(r["executor"]),
          _fmt(r["host"]), f"{r['jobs_todo']}/{r['jobs_total']}", _fmt(r["jobs_done"]),
          _fmt(r["jobs_failed"])] for r in runs]))
    parts.append("<p class='note'>Data: <a href='results.csv'>results.csv</a>, "
                 "<a href='curves.csv'>curves.csv</a>, <a href='bd.csv'>bd.csv</a>, "
                 "<a href='findings.csv'>findings.csv</a>, <a href='timing.csv'>timing.csv</a>."
                 "</p></body></html>")
    return "\n".join(parts)
