"""`inrcodec report DB -o DIR`: a static HTML page, its figures, and CSV files.

    DIR/index.html        the report (no scripts, relative links only)
    DIR/figures/*.png|svg RD curves per architecture
    DIR/crops/...         visual crops (original, each loss, each baseline)
    DIR/results.csv       every job row         DIR/curves.csv    averaged RD points
    DIR/bd.csv            BD-rate / BD-metric   DIR/findings.csv  best loss per metric
    DIR/timing.csv        seconds per image per codec configuration
    DIR/bd_per_image.csv  each loss against MSE image by image: mean, sd, min, max (perimage)
    DIR/claims.csv        the ICIP 2024 study's claims C1-C4 judged from the rows (claims)
    DIR/longer.csv        each loss against MSE at the normal length and at twice the training,
                          when the rows have "-x2" runs (longer)

Every number comes from the database; nothing is typed in.
"""

from __future__ import annotations

import csv
import datetime as _dt
import html
import math
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..losses import describe_loss
from . import plots
from .analysis import bd_table, findings, timing
from .bdrate import METHOD
from .claims import write_claims
from .crops import visual_crops
from .curves import (
    METRIC_LABELS,
    METRICS,
    curve_groups,
    task_metric_names,
    with_task_metrics,
)
from .longer import rankings
from .perimage import spread_table
from .store import Store

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


def _bd_cell(v: float, lower_better: bool = True, overlap: float = 1.0,
             method: str = METHOD) -> str:
    if not math.isfinite(v):
        return "n/a"
    good = v < 0 if lower_better else v > 0
    cls = "good" if good else "bad"
    mark = ("†" if overlap < LOW_OVERLAP else "") + ("‡" if method != METHOD else "")
    return f'<span class="{cls}">{v:+.2f}{mark}</span>'


def write_report(db: str | os.PathLike, out: str | os.PathLike, *, crop_image: str | None = None,
                 crop_size: int = 128, reuse_crops: str | os.PathLike | None = None) -> Path:
    out = Path(out)
    with Store.open(db) as store:
        rows = store.rows()
        runs = store.runs()
        if not rows:
            raise ConfigError(f"{db}: no results yet")
        out.mkdir(parents=True, exist_ok=True)
        task = tuple(task_metric_names(rows))
        rows = with_task_metrics(rows)
        metrics = METRICS + task
        done = [r for r in rows if r["status"] == "done"]
        failed = [r for r in rows if r["status"] == "failed"]
        groups = curve_groups(rows, task)
        figures: dict[str, list[Path]] = {}
        bd_rows, found = [], []
        for _, _, group in groups:
            figures.update(plots.all_figures(group, out / "figures", metrics))
            group_bd = bd_table(group, metrics)
            bd_rows += group_bd
            found += findings(group, group_bd, metrics)
        times = timing(rows)
        images = groups[0][1] if groups else []
        crop_img = crop_image or (images[0] if images else None)
        if crop_image and crop_image not in {r["image"] for r in done}:
            raise ConfigError(f"--crop-image {crop_image!r} is not in the results "
                              f"(images: {', '.join(sorted({r['image'] for r in done}))})")
        # every INR curve once, the baselines once (as the first group averages them)
        shown = [c for _, _, g in groups for c in g if c.kind == "inr"] + \
            [c for c in (groups[0][2] if groups else []) if c.kind == "baseline"]
        crops = visual_crops(store, rows, shown, crop_img, crop_size, out / "crops",
                             Path(reuse_crops) if reuse_crops else None) if crop_img else []
    _write_csv(out / "results.csv", rows)
    _write_csv(out / "curves.csv", [
        {"group": arch, "curve": c.label, "kind": c.kind, "architecture": c.architecture,
         "loss": c.loss, "rate": p.rate_key, "images": p.images, "bpp": p.bpp, **p.values}
        for arch, _, group in groups for c in group for p in c.points])
    _write_csv(out / "bd.csv", [r.__dict__ for r in bd_rows])
    _write_csv(out / "findings.csv", found)
    _write_csv(out / "bd_per_image.csv", spread_table(rows))
    study = write_claims(rows, out / "claims.csv")
    longer = rankings(rows)
    if longer:
        _write_csv(out / "longer.csv", longer)
    _write_csv(out / "timing.csv", times)
    page = _html(out, db, rows, done, failed, groups, figures, bd_rows, found, times,
                 crops, runs, metrics, study, longer)
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _images(names: list[str], most: int = 6) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", … {len(names) - most} more" if len(names) > most else "")


def _losses_section(done: list[dict[str, Any]]) -> str:
    """Each loss the INR rows train with, what it computes, and the architectures using it (the
    study compares losses as each codec's reference defines them)."""
    arches: dict[str, set[str]] = {}
    signed: set[str] = set()
    for r in done:
        if r["kind"] != "inr" or not r["loss"]:
            continue
        arches.setdefault(r["loss"], set()).add(r["architecture"])
        if '"signed": true' in (r["settings_json"] or ""):
            signed.add(r["architecture"])
    if not arches:
        return ""
    note = ("<p class='note'>d = decoded − original on images in [0, 1]"
            + (f"; {html.escape(', '.join(sorted(signed)))} train on images mapped to [−1, 1] "
               "as the NIF fork does, so their pointwise terms see 2d" if signed else "")
            + ".</p>")
    return "<h2>Losses</h2>" + note + _table(
        ["loss", "what it computes", "architectures"],
        [[html.escape(loss), html.escape(describe_loss(loss)),
          html.escape(", ".join(sorted(a)))] for loss, a in sorted(arches.items())])


def _claims_section(study: list[dict[str, str]]) -> str:
    """The ICIP 2024 study's claims as judged from these rows, when the rows speak to one of
    them (a grid of other codecs leaves every claim with nothing but missing curves)."""
    if not any(" vs " in c["numbers"] for c in study):
        return ""
    rows = [[html.escape(c["claim"]), html.escape(c["statement"]),
             f"<b>{html.escape(c['verdict'])}</b>",
             "<br>".join(html.escape(p) for p in c["numbers"].split("; "))] for c in study]
    return ("<h2>The loss study's claims</h2><p class='note'>Catania &amp; Allegra (ICIP "
            "2024), judged by per-image BD-rates (<code>inrcodec.bench.claims</code>): a "
            "comparison holds when its mean has the claimed sign and two thirds of the images "
            "agree; \"within 10 %\" is a mean BD-rate within 10 %; the (x2) rows ask whether "
            "each comparison keeps its direction with training twice as long. Also in "
            "<a href='claims.csv'>claims.csv</a>.</p>"
            + _table(["claim", "statement", "verdict", "comparisons"], rows, "claims"))


def _longer_section(longer: list[dict[str, Any]]) -> str:
    """Every loss against MSE at both training lengths (`inrcodec.bench.longer`), the claims'
    (x2) rows beside the comparisons no claim names (RMSE's, for one)."""
    if not longer:
        return ""

    def cell(r: dict[str, Any], key: str) -> str:
        v = r[key]
        if not math.isfinite(v):
            return "n/a"
        unit = " %" if r["measure"] == "bd" else ""
        return f'<span class="{"good" if v < 0 else "bad"}">{v:+.3g}{unit}</span>'

    return ("<h2>Twice the training</h2><p class='note'>Each loss against MSE on the images "
            "and rate points of the \"-x2\" runs, measured at the normal length and at twice "
            "the training: a per-image BD-rate (%) where a curve has two or more points, else "
            "the metric difference at the one point (signed so that negative means the loss "
            "beats MSE). <i>holds</i>: the same loss is ahead at both lengths; <i>flips</i>: "
            "the lead changes, so the ranking is about optimisation, not the loss; "
            "<i>level</i>: a tie at both. Also in <a href='longer.csv'>longer.csv</a>.</p>"
            + _table(["architecture", "loss vs anchor", "metric", "images", "normal length",
                      "twice the training", "verdict"],
                     [[html.escape(r["architecture"]),
                       f"{html.escape(r['test'])} vs {html.escape(r['anchor'])}",
                       METRIC_LABELS[r["metric"]], r["images"], cell(r, "normal"),
                       cell(r, "longer"), html.escape(r["verdict"])] for r in longer]))


def _last_finished(rows: list[dict[str, Any]]) -> str:
    """When the newest row finished: the page depends on the rows alone (no clock), so the
    same store gives the same page. Stamps without a zone are UTC (the store writes UTC)."""
    stamps = []
    for r in rows:
        try:
            t = _dt.datetime.fromisoformat(str(r.get("finished_at") or ""))
        except ValueError:
            continue
        stamps.append(t.astimezone(_dt.UTC) if t.tzinfo else t.replace(tzinfo=_dt.UTC))
    return f", the last at {max(stamps):%Y-%m-%d %H:%M} UTC" if stamps else ""


def _html(out, db, rows, done, failed, groups, figures, bd_rows, found, times, crops,
          runs, metrics, study, longer) -> str:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>inrcodec benchmark report</title><style>{CSS}</style></head><body>"]
    parts.append("<h1>inrcodec benchmark report</h1>")
    versions = sorted({f"inrcodec {r['inrcodec_version'] or '?'}, torch "
                       f"{r['torch_version'] or '?'}, Python {r['python_version'] or '?'}"
                       for r in done})
    hosts = sorted({f"{r['host'] or 'host not recorded'} ({r['device_used']}, "
                    f"{r['threads'] or '?'} threads)" for r in done})
    parts.append(
        f"<p>Database <code>{html.escape(str(db))}</code>: {len(done)} jobs done, "
        f"{len(failed)} failed{_last_finished(rows)}.<br>"
        f"Images averaged, per architecture (with the baselines on the same images): "
        f"{html.escape('; '.join(f'{a} {len(i)} ({_images(i)})' for a, i, _ in groups))}.<br>"
        f"Software: {html.escape('; '.join(versions))}.<br>"
        f"Machines: {html.escape('; '.join(hosts))}.</p>")
    converted = sum('"converted_from"' in (r["log_json"] or "") for r in done)
    if converted:
        parts.append(f"<p class='note'>{converted} of these rows were converted from older "
                     "result files, numbers unchanged (each row's log_json names the file and "
                     "the command that recorded it); they have no encoded or decoded files, and "
                     "fields the old files did not record are empty.</p>")
    parts.append(
        "<p class='note'>Each point is the mean bpp and mean metric over the images above, at "
        "one rate point (whole-file bpp, headers included). An architecture's curves and the "
        "baselines beside them are averaged over the images all of them have results for. "
        "PSNR is on the integer codes at each image's bit "
        "depth (peak 2^bits − 1: 255 for 8-bit images, 65535 for 16-bit slices); MS-SSIM dB = "
        "−10·log10(1−MS-SSIM); LPIPS (AlexNet) is lower-is-better.</p>")

    parts.append(_losses_section(done))

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

    parts.append(_claims_section(study))
    parts.append(_longer_section(longer))

    parts.append("<h2>BD-rate and BD-metric</h2>")
    parts.append("<p class='note'>BD-rate (%): bits the loss needs relative to the anchor at "
                 "equal quality (negative = fewer bits, green). BD-metric: quality difference at "
                 "equal rate (dB for PSNR and MS-SSIM; for LPIPS negative is better). Akima "
                 "interpolation over each curve's efficient points, or PCHIP (‡) where Akima's "
                 "interpolant of either curve is not monotone (few, unevenly spaced points); "
                 "n/a where the curves do not "
                 f"overlap; † where they share less than {LOW_OVERLAP:.0%} of their quality "
                 "range (an extrapolation-prone number). All pairs, with their overlap and "
                 "interpolation, are in bd.csv.</p>")
    for arch in sorted({r.architecture for r in bd_rows}):
        for metric in metrics:
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
                        cells += [_bd_cell(r.bd_rate, overlap=r.overlap, method=r.method),
                                  _bd_cell(r.bd_metric, metric == "lpips", r.overlap,
                                           r.method)]
                table_rows.append(cells)
            parts.append(f"<h3>{html.escape(arch)}: {METRIC_LABELS[metric]}</h3>")
            parts.append(_table(headers, table_rows, "bd"))

    parts.append("<h2>Visual comparison</h2>")
    if not crops:
        parts.append("<p>No decoded images to compare: no INR results, or no artifacts (a "
                     "report from an export without its database folder, rows converted from "
                     "older result files, or source images not on this machine).</p>")
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
        [[html.escape(t["curve"]), t["jobs"], _fmt(t["mean_pixels"], 0),
          _fmt(t["encode_s_mean"], 2), _fmt(t["encode_s_max"], 2), _fmt(t["decode_s_mean"], 3),
          _fmt(t["decode_s_max"], 3), _fmt(t["devices"]), _fmt(t["threads"]),
          _fmt(t["hosts"])] for t in times]))

    parts.append("<h2>Averaged points</h2>")
    extra = [m for m in metrics if m not in METRICS]
    parts.append(_table(
        ["group", "curve", "rate point", "images", "bpp", "PSNR", "SSIM", "MS-SSIM dB", "LPIPS"]
        + [METRIC_LABELS[m] for m in extra],
        [[html.escape(arch), html.escape(c.label), html.escape(p.rate_key), p.images,
          _fmt(p.bpp, 4), _fmt(p.values["psnr"], 2), _fmt(p.values["ssim"], 4),
          _fmt(p.values["msssim_db"], 2), _fmt(p.values["lpips"], 4)]
         + [_fmt(p.values[m], 4) for m in extra]
         for arch, _, group in groups for c in group for p in c.points]))

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
                 "<a href='findings.csv'>findings.csv</a>, <a href='timing.csv'>timing.csv</a>, "
                 "<a href='bd_per_image.csv'>bd_per_image.csv</a> (each loss against MSE image "
                 "by image), <a href='claims.csv'>claims.csv</a> (the ICIP 2024 study's claims "
                 "C1-C4)" + (", <a href='longer.csv'>longer.csv</a> (each loss against MSE at "
                             "twice the training)" if longer else "") + ".</p></body></html>")
    return "\n".join(parts)
