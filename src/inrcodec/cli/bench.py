"""`inrcodec bench`, `report`, `export` and `import`: run a grid into a result store, report
it, move it in and out of JSON."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..bench.spec import BaselineRun, CodecRun, ImageSet, Spec, load_spec, validate
from ..console import err, out
from ..errors import ConfigError
from .common import ints, names, parse_pairs


def build_spec(spec_file: Path | None, preset: str | None, *, images: list[str] | None = None,
               codecs: list[str] | None = None, losses: list[str] | None = None,
               baselines: list[str] | None = None, rates: list[str] | None = None,
               sets: list[str] | None = None, qualities: str | None = None,
               crop: str | None = None, reduce: int | None = None, limit: int | None = None,
               seeds: str | None = None, device: str | None = None, lpips: bool | None = None,
               name: str | None = None, kodak: str | None = None) -> Spec:
    """A spec file or preset (or nothing), then the flags override parts of it."""
    from ..bench.presets import codec_run, preset_spec

    if spec_file is not None and preset is not None:
        raise ConfigError("give a SPEC file or --preset, not both")
    level = "quick" if preset == "quick" else "full"
    codec_names = names(codecs)
    if spec_file is not None:
        spec = load_spec(spec_file)
    elif preset is not None:
        spec = preset_spec(preset, [c.partition(":")[0] for c in codec_names] or None)
    else:
        spec = Spec(name=name or "bench")
    if name:
        spec.name = name
    if kodak:
        spec.kodak = kodak
    if codec_names:
        runs = []
        for item in codec_names:
            cname, _, cpreset = item.partition(":")
            if rates:
                run = CodecRun(cname, cpreset or "default",
                               rates=[parse_pairs([r], "--rate") for r in rates])
            else:
                run = codec_run(cname, level)
                run.preset = cpreset or run.preset
            runs.append(run)
        spec.codecs = runs
    elif rates:
        raise ConfigError("--rate needs --codec")
    if sets:
        extra = parse_pairs(sets, "--set")
        for run in spec.codecs:
            for r in run.rates:  # a --set of a rate knob fixes it at every rate point
                for k in extra:
                    r.pop(k, None)
            run.settings.update(extra)
    if losses:
        spec.losses = names(losses)
        for run in spec.codecs:
            run.losses = None
    if baselines:
        chosen = names(baselines)
        spec.baselines = [] if chosen == ["none"] else [BaselineRun(b) for b in chosen]
    if qualities:
        for b in spec.baselines:
            b.qualities = ints(qualities, "--qualities")
    if images:
        from ..bench.protocols import PROTOCOLS

        spec.images = [ImageSet(protocol=i) if i in PROTOCOLS else ImageSet(path=i)
                       for i in images]
    for s in spec.images:
        if crop:
            s.crop = ints(crop, "--crop")
        if reduce:
            s.reduce = reduce
        if limit:
            s.limit = limit
    if seeds:
        spec.seeds = ints(seeds, "--seeds")
    if device:
        spec.device = device
    if lpips is not None:
        spec.lpips = lpips
    validate(spec)
    return spec


def bench(
    spec_file: Path | None = typer.Argument(None, metavar="[SPEC]", help="TOML grid spec."),
    preset: str | None = typer.Option(None, "--preset", help="Built-in grid: quick, seed-study."),
    db: Path | None = typer.Option(None, "--db", help="Results database "
                                   "[default: bench-runs/<spec name>/results.sqlite]."),
    workers: int = typer.Option(1, "--workers", "-j", help="Local worker processes."),
    threads: int | None = typer.Option(None, "--threads", help="Torch threads per local "
                                       "worker [default: cores // workers]."),
    executor: str = typer.Option("local", "--executor", help="local or ray."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster address."),
    cpus_per_job: int = typer.Option(1, "--cpus-per-job", help="CPUs each Ray task reserves."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Rerun failed jobs too."),
    images: list[str] | None = typer.Option(None, "--images", help="Folder, file or protocol "
                                            "(kodak24, kodak6, kodak6-half, kodak24-half, "
                                            "speed-s1); repeatable."),
    codec: list[str] | None = typer.Option(None, "--codec", "-c",
                                           help="NAME[:PRESET], repeatable or comma list."),
    loss: list[str] | None = typer.Option(None, "--loss", "-l", help="Losses (repeatable)."),
    baseline: list[str] | None = typer.Option(
        None, "--baseline", "-b", help="jpeg/444 jpeg/420 webp avif jpegxl jpeg2000, or none."),
    rate: list[str] | None = typer.Option(None, "--rate", help="One rate point, e.g. "
                                          "'lmbda=0.001' or 'layers=5 width=20'; repeatable."),
    set_: list[str] | None = typer.Option(None, "--set", help="Codec setting key=value for "
                                          "every INR job (e.g. steps=300)."),
    qualities: str | None = typer.Option(None, "--qualities", help="Baseline qualities, "
                                         "e.g. 10,30,50."),
    crop: str | None = typer.Option(None, "--crop", help="x0,y0,x1,y1 after reduce."),
    reduce: int | None = typer.Option(None, "--reduce", help="Pillow reduce factor."),
    limit: int | None = typer.Option(None, "--limit", help="First N images of each set."),
    seeds: str | None = typer.Option(None, "--seeds", help="e.g. 0,1,2"),
    device: str | None = typer.Option(None, "--device", help="auto, cpu or cuda."),
    no_lpips: bool = typer.Option(False, "--no-lpips", help="Skip LPIPS."),
    name: str | None = typer.Option(None, "--name", help="Run name (default from spec)."),
    kodak: str | None = typer.Option(None, "--kodak", help="Kodak folder for the kodak* "
                                     "protocols [default: $INRCODEC_KODAK, data/kodak]."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the jobs and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run a benchmark grid (resumable): encode, decode and measure every job."""
    from ..bench.executors import make_executor
    from ..bench.grid import expand
    from ..bench.runner import run_grid
    from ..bench.store import Store

    spec = build_spec(spec_file, preset, images=images, codecs=codec, losses=loss,
                      baselines=baseline, rates=rate, sets=set_, qualities=qualities,
                      crop=crop, reduce=reduce, limit=limit, seeds=seeds, device=device,
                      lpips=False if no_lpips else None, name=name, kodak=kodak)
    jobs = expand(spec)
    db = db or Path("bench-runs") / spec.name / "results.sqlite"
    if dry_run:
        _print_plan(jobs, db)
        return
    if any(j.lpips for j in jobs):
        _check_lpips()
    ex = make_executor(executor, workers, address, cpus_per_job, threads)
    command = " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]])
    with Store(db) as store:
        summary = run_grid(jobs, store, ex, retry_failed=retry_failed, command=command,
                           spec=spec.to_dict(), console=err, progress=not quiet)
    if summary.failed:
        err.print(f"[yellow]{summary.failed} job(s) failed[/yellow]; see the errors "
                      f"above, `inrcodec report {db}`, or rerun with --retry-failed")
        raise typer.Exit(1)


def _check_lpips() -> None:
    """Fail before the run, not in every job, when LPIPS cannot be computed."""
    try:
        from .. import lpips  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"LPIPS is not available ({exc}); rerun with --no-lpips") from None


def _job_seconds(rows: list[dict]) -> Callable[[Any], float | None]:
    """A job's expected seconds from a store's finished rows: the mean of its own curve's
    jobs, else of the same codec and preset (another label, loss or image), else None.
    Copied rows (`reused_from`) cost nothing and are left out."""
    by_curve: dict[str, list[float]] = {}
    by_codec: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r["status"] == "done" and r.get("job_seconds") and not r.get("reused_from"):
            by_curve.setdefault(r["curve"], []).append(r["job_seconds"])
            by_codec.setdefault((r["codec"], r["variant"]), []).append(r["job_seconds"])

    def estimate(job: Any) -> float | None:
        seen = by_curve.get(job.curve) or by_codec.get((job.codec, job.variant))
        return sum(seen) / len(seen) if seen else None

    return estimate


def _print_plan(jobs: list, db: Path) -> None:
    """Jobs per curve; with an existing store, also how many are done or failed there, how
    many would be copied from the same encode under another label, how many another live run
    is running (a run would skip them), how many would run (a failed job runs again with
    --retry-failed) and about how long, from the store's finished jobs of the same curve or
    codec preset (job time, one worker)."""
    from ..bench.store import Store

    statuses: dict[str, str] = {}
    copies: set[str] = set()
    running: set[str] = set()
    estimate = _job_seconds([])
    if db.is_file():
        with Store(db, create=False) as store:
            statuses = store.statuses()
            copies = set(store.reusable([j for j in jobs if j.job_id not in statuses]))
            running = store.live_claims() - set(statuses) - copies
            estimate = _job_seconds(store.rows())
    table = Table(title=f"{len(jobs)} jobs -> {db}")
    cols = ["curve", "images", "rate points", "jobs"]
    cols += ["done", "failed", "copied", "running", "to run", "est. h"] if db.is_file() else []
    total, unknown = 0.0, 0
    for col in cols:
        table.add_column(col, overflow="fold")
    curves: dict[str, list] = {}
    for j in jobs:
        curves.setdefault(j.curve, []).append(j)
    for curve, js in curves.items():
        cells = [curve, str(len({j.image.name for j in js})), str(len({j.rate for j in js})),
                 str(len(js))]
        if db.is_file():
            done = sum(statuses.get(j.job_id) == "done" for j in js)
            failed = sum(statuses.get(j.job_id) == "failed" for j in js)
            copied = sum(j.job_id in copies for j in js)
            busy = sum(j.job_id in running for j in js)
            todo = [j for j in js if statuses.get(j.job_id) is None and j.job_id not in copies
                    and j.job_id not in running]
            times = [estimate(j) for j in todo]
            known = [t for t in times if t is not None]
            total, unknown = total + sum(known), unknown + len(times) - len(known)
            hours = "" if not todo else "?" if not known else (
                f"{sum(known) / 3600:.2f}" + ("+" if len(known) < len(times) else ""))
            cells += [str(done), str(failed), str(copied), str(busy),
                      str(len(js) - done - failed - copied - busy), hours]
        table.add_row(*cells)
    out.print(table)
    if db.is_file() and (total or unknown):
        out.print(f"about {total / 3600:.1f} h of job time to run on one worker, from the "
                  "store's finished jobs of the same curve or codec preset"
                  + (f"; {unknown} jobs with nothing to go by" if unknown else ""))


def report(
    db: Path = typer.Argument(..., help="Results database written by `inrcodec bench`, or "
                              "its JSON export."),
    output: Path = typer.Option(..., "-o", "--output", help="Report folder (created)."),
    crop_image: str | None = typer.Option(None, "--crop-image", help="Image for the visual "
                                          "crops (default: the first one)."),
    crop_size: int = typer.Option(128, "--crop-size", help="Side of the visual crops."),
    reuse_crops: Path | None = typer.Option(None, "--reuse-crops", exists=True, file_okay=False,
                                            help="An earlier report's "
                                            "crops folder: a row whose decoded file is not here "
                                            "(imported from an export) shows its crop from "
                                            "there, if made of the same row and window."),
) -> None:
    """Write a static HTML report (figures, BD tables, crops, timings, CSV) from DB."""
    from ..bench.report import write_report

    index = write_report(db, output, crop_image=crop_image, crop_size=crop_size,
                         reuse_crops=reuse_crops)
    err.print(f"wrote {index}")


def export(
    db: Path = typer.Argument(..., help="Results database."),
    output: Path = typer.Option(..., "-o", "--output", help="JSON file (every run and row; "
                                "the form results are committed in), or .csv: one line per "
                                "finished job (image, codec, loss, rate, bpp, metrics, "
                                "seconds)."),
) -> None:
    """Write a results database (or an export) as one JSON file (artifacts stay beside the
    database), or its finished jobs as a CSV table."""
    from ..bench.store import Store
    from ..io import atomic_write, write_bytes

    if output.suffix.lower() == ".csv":
        from ..bench.flat import write_flat_csv

        with Store.open(db) as store:
            rows = store.rows()
        count: list[int] = []
        atomic_write(output, lambda tmp: count.append(write_flat_csv(rows, tmp)))
        err.print(f"wrote {output}: {count[0]} finished jobs")
        return
    with Store.open(db) as store:
        data = store.export()
    write_bytes(output, (json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
                .encode())
    err.print(f"wrote {output}: {len(data['results'])} rows, {len(data['runs'])} runs")


def import_cmd(
    source: Path = typer.Argument(..., help="JSON export (`inrcodec export`)."),
    db: Path = typer.Option(..., "--db", help="Results database to add the rows to (created "
                            "if missing); `inrcodec bench --db` then resumes from it."),
) -> None:
    """Load an exported study into a database (rows already there are kept)."""
    from ..bench.store import Store

    if not source.is_file():
        raise ConfigError(f"{source}: no such export")
    try:
        data = json.loads(source.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{source}: not a results export ({exc})") from None
    with Store(db) as store:
        added = store.import_rows(data)
    err.print(f"{db}: {added} rows added from {source}")
