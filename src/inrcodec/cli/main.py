"""The `inrcodec` command line (typer + rich): encode, decode, eval, info, codecs, demo, and the
bench and medical command groups.

Every user-facing failure is an InrCodecError: it is printed as one line and exits with code 2.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..api import DEFAULT_CODEC
from ..coding.limits import DecodeLimits
from ..console import err, out
from ..errors import ConfigError, InputError, InrCodecError
from . import bench as bench_cli
from . import medical as medical_cli
from .common import TrainingProgress, fmt, handle_errors, parse_pairs

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Image compression with implicit neural representations.")


def print_summary(result: Any, path: str | None) -> None:
    m = result.metrics
    table = Table(show_header=False, box=None)
    rows = [
        ("file", f"{path}  ({len(result)} bytes)" if path else f"{len(result)} bytes"),
        ("codec", f"{result.codec} (preset {result.preset}), loss {result.loss}, "
                  f"seed {result.seed}, {result.device}"),
        ("bpp", f"{result.bpp:.4f} (payload {result.payload_bpp:.4f})"),
        ("PSNR", fmt(m.get("psnr"), " dB", 2)),
        ("MS-SSIM", f"{fmt(m.get('msssim'), '', 4)} ({fmt(m.get('msssim_db'), ' dB', 2)})"),
        ("LPIPS", fmt(m.get("lpips"), "", 4)),
        ("time", f"{result.encode_seconds:.1f} s"),
    ]
    for k, v in rows:
        table.add_row(f"[bold]{k}[/bold]", v)
    out.print(table)


@app.command()
@handle_errors
def encode(
    inputs: list[Path] = typer.Argument(..., help="Images to compress (PNG, JPEG, 16-bit PNG, "
                                        "NIfTI), or folders of images."),
    output: Path = typer.Option(..., "-o", "--output", help="Output .inr file; a folder when "
                                "several images are given (created if missing)."),
    slice_: int | None = typer.Option(None, "--slice", help="Axial slice of a NIfTI volume."),
    mask: Path | None = typer.Option(None, "--mask", help="NIfTI labels (> 0) of the same "
                                     "slice, for loss terms that use labels (the sinco term's "
                                     "reference instead of g(original))."),
    codec: str = typer.Option(DEFAULT_CODEC, "--codec", "-c",
                              help="Codec name (see `inrcodec codecs`)."),
    loss: str = typer.Option("mse", "--loss", "-l", help="Loss name or weighted sum."),
    preset: str | None = typer.Option(None, "--preset", "-p", help="Codec preset [default: "
                                      "fast for Cool-chic, else default]."),
    steps: int | None = typer.Option(None, "--steps", help="Training steps."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate."),
    bits: int | None = typer.Option(None, "--bits", help="Bits per weight (8-16)."),
    lmbda: float | None = typer.Option(None, "--lmbda", help="Rate weight (Cool-chic)."),
    target_bpp: float | None = typer.Option(None, "--target-bpp", help="Search the rate "
                                            "setting until the file is within 5 %% of this."),
    target_psnr: float | None = typer.Option(None, "--target-psnr", help="Search the rate "
                                             "setting until the PSNR is within 0.25 dB."),
    budget: float | None = typer.Option(None, "--budget", help="Seconds per image: the "
                                        "schedule is scaled to fit, the best model so far is "
                                        "written when the time is up."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    set_: list[str] | None = typer.Option(None, "--set", help="Codec setting key=value."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_out: bool = typer.Option(False, "--json", help="Print each result as a JSON line."),
    no_lpips: bool = typer.Option(False, "--no-lpips", help="Skip LPIPS in the summary."),
) -> None:
    """Overfit a network to each IMAGE and write it as a .inr file."""
    from ..io import check_output_path

    settings = parse_pairs(set_)
    for key, value in (("steps", steps), ("lr", lr), ("bits", bits), ("lmbda", lmbda)):
        if value is not None:
            settings[key] = value
    jobs = _encode_jobs(inputs, output)
    for _, dest in jobs:
        check_output_path(dest)
    options = dict(codec=codec, preset=preset, seed=seed, device=device, lpips=not no_lpips,
                   budget=budget, target_bpp=target_bpp, target_psnr=target_psnr, **settings)
    if len(jobs) == 1:
        src, dest = jobs[0]
        with TrainingProgress(enabled=not quiet and not json_out) as bar:
            result = _encode_one(src, dest, slice_, mask, loss, bar, options)
        if json_out:
            out.print_json(json.dumps(result.summary() | {"input": str(src),
                                                          "output": str(dest)}, default=str))
        elif not quiet:
            print_summary(result, str(dest))
            _print_target(result)
        return
    rows, failed = [], 0
    with TrainingProgress(enabled=not quiet and not json_out, files=len(jobs)) as bar:
        for src, dest in jobs:
            bar.start_file(src.name)
            try:
                result = _encode_one(src, dest, slice_, mask, loss, bar, options)
            except InrCodecError as exc:
                failed += 1
                err.print(f"[red]error:[/red] {exc}", highlight=False)
                rows.append({"input": str(src), "error": str(exc)})
                if json_out:
                    print(json.dumps(rows[-1]), flush=True)  # one line each: not wrapped
                continue
            rows.append(result.summary() | {"input": str(src), "output": str(dest)})
            if json_out:
                print(json.dumps(rows[-1], default=str), flush=True)
    if not json_out and not quiet:
        _print_batch(rows)
    if failed:
        raise typer.Exit(2)


def _encode_jobs(inputs: list[Path], output: Path) -> list[tuple[Path, Path]]:
    """(source, destination) per image: folders expand to their images; several images need
    an output folder."""
    from ..bench.images import IMAGE_SUFFIXES
    from ..io import is_nifti

    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and (
                f.suffix.lower() in IMAGE_SUFFIXES or is_nifti(f)))
            if not found:
                raise InputError(f"{p}: no images in this folder")
            files += found
        else:
            if not p.exists():
                raise InputError(f"{p}: no such file")
            files.append(p)
    batch = len(files) > 1 or any(p.is_dir() for p in inputs)
    if not batch:
        dest = output / (_stem(files[0]) + ".inr") if output.is_dir() else output
        return [(files[0], dest)]
    if output.exists() and not output.is_dir():
        raise InputError(f"{output}: several images need an output folder, not a file")
    stems = [_stem(f) for f in files]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise InputError(f"two inputs would both be written as {dup[0]}.inr")
    output.mkdir(parents=True, exist_ok=True)
    return [(f, output / f"{s}.inr") for f, s in zip(files, stems, strict=True)]


def _stem(path: Path) -> str:
    return path.name.split(".")[0] if path.name.lower().endswith(".nii.gz") else path.stem


def _encode_one(src: Path, dest: Path, slice_: int | None, mask: Path | None, loss: str,
                bar: Any, options: dict[str, Any]) -> Any:
    import warnings

    from .. import api
    from ..io import write_bytes

    image = api.as_image(src, slice=slice_)
    loss_arg: Any = _with_labels(loss, mask, slice_, image) if mask is not None else loss
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        result = api.encode(image, loss=loss_arg, progress=bar, **options)
    for w in caught:  # e.g. a target that could not be met: say what was achieved
        err.print(f"[yellow]warning:[/yellow] {src.name}: {w.message}", highlight=False)
    write_bytes(dest, bytes(result))
    return result


def _print_target(result: Any) -> None:
    search = result.log.get("target")
    if not search:
        return
    table = Table(title=f"rate search on {search['knob']}: "
                        f"{'met' if search['met'] else 'NOT met'}", box=None)
    for col in ("try", search["knob"], "bpp", "PSNR", "kind", "seconds"):
        table.add_column(col)
    for n, t in enumerate(search["tries"], 1):
        table.add_row(str(n), f"{t['knob']:.6g}", f"{t['bpp']:.4f}", f"{t['psnr']:.2f}",
                      "proxy" if t["proxy"] else "full", f"{t['seconds']:.1f}")
    out.print(table)


def _print_batch(rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"{len(rows)} images")
    for col in ("image", "bytes", "bpp", "PSNR", "MS-SSIM", "LPIPS", "seconds"):
        table.add_column(col, justify="left" if col == "image" else "right")
    for r in rows:
        if "error" in r:
            table.add_row(Path(r["input"]).name, "[red]failed[/red]", "", "", "", "", "")
            continue
        m = r["metrics"]
        table.add_row(Path(r["input"]).name, str(r["bytes"]), f"{r['bpp']:.4f}",
                      fmt(m.get("psnr"), "", 2), fmt(m.get("msssim"), "", 4),
                      fmt(m.get("lpips"), "", 4), f"{r['encode_seconds']:.1f}")
    out.print(table)


def decode_limits(trust: bool, max_macs: float | None, max_memory: str | None,
                  max_params: float | None) -> DecodeLimits:
    """The DecodeLimits of the decode options (--trust lifts them all)."""
    if trust:
        return DecodeLimits.unlimited()
    values: dict[str, float] = {}
    for name, value in (("max_macs", max_macs), ("max_params", max_params)):
        if value is not None:
            if not (value > 0):
                raise ConfigError(f"--{name.replace('_', '-')} must be > 0")
            values[name] = value
    if max_memory is not None:
        values["max_peak_bytes"] = parse_bytes(max_memory, "--max-memory")
    return DecodeLimits(**values)


def parse_bytes(text: str, flag: str) -> float:
    """"3e9", "512M", "4G", "2GiB" -> bytes."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        raise ConfigError(f"{flag} expects a size such as 4G or 3e9, got {text!r}") from None
    if not value > 0:
        raise ConfigError(f"{flag} must be > 0")
    return value


@app.command()
@handle_errors
def decode(
    input: Path = typer.Argument(..., help=".inr file."),
    output: Path = typer.Option(..., "-o", "--output",
                                help="Output image (.png, .jpg, .tif, .nii, .nii.gz)."),
    device: str = typer.Option("auto", "--device"),
    trust: bool = typer.Option(False, "--trust", help="The file comes from a trusted source: "
                               "decode it whatever its model and image size cost."),
    max_macs: float | None = typer.Option(None, "--max-macs", help="Refuse files whose "
                                          "decode needs more multiply-accumulates "
                                          "(default 1.5e11: every preset up to 768x512)."),
    max_memory: str | None = typer.Option(None, "--max-memory", help="Refuse files whose "
                                          "decode needs more memory, e.g. 8G (default 3G)."),
    max_params: float | None = typer.Option(None, "--max-params", help="Refuse files whose "
                                            "model has more parameters (default 2^24)."),
) -> None:
    """Decode a .inr file to an image (same mode and bit depth as the original).

    Files are checked before anything is allocated: one whose model or image would cost more
    than the limits to decode is refused (raise them with --max-macs / --max-memory, or
    --trust, for a file you trust)."""
    from .. import api
    from ..errors import InputError
    from ..io import check_output_path, write_image

    limits = decode_limits(trust, max_macs, max_memory, max_params)
    if not input.is_file():
        raise InputError(f"{input}: no such file")
    check_output_path(output)
    limits.check_file_size(input.stat().st_size)
    image = api.decode(input.read_bytes(), device=device, limits=limits)
    write_image(image, output)
    err.print(f"wrote {output} ({image.width}x{image.height} {image.mode}, "
              f"{image.bit_depth}-bit)")


@app.command("eval")
@handle_errors
def eval_cmd(
    reference: Path = typer.Argument(..., help="Reference image."),
    distorted: Path = typer.Argument(..., help="Distorted image (or .inr file)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    no_lpips: bool = typer.Option(False, "--no-lpips"),
) -> None:
    """PSNR, SSIM, MS-SSIM (and dB) and LPIPS of DISTORTED against REFERENCE."""
    from .. import api

    if distorted.suffix == ".inr" and distorted.is_file():
        DecodeLimits().check_file_size(distorted.stat().st_size)
        dist = api.decode(distorted.read_bytes())
    else:
        dist = api.as_image(distorted)
    metrics = api.evaluate(api.as_image(reference), dist, lpips=not no_lpips)
    if json_out:
        out.print_json(json.dumps({k: (None if math.isinf(v) else v)
                                   for k, v in metrics.items()}))
        return
    for k, v in metrics.items():
        out.print(f"{k:10s} {fmt(v, '', 4)}")


@app.command()
@handle_errors
def info(
    input: Path = typer.Argument(..., help=".inr file."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Show what a .inr file holds: codec, config, sizes, bpp."""
    from .. import api
    from ..errors import InputError

    if not input.is_file():
        raise InputError(f"{input}: no such file")
    DecodeLimits().check_file_size(input.stat().st_size)
    d = api.info(input.read_bytes())
    if json_out:
        out.print_json(json.dumps(d))
        return
    img = d["image"]
    out.print(f"[bold]{input}[/bold]: {d['codec']}  {img['width']}x{img['height']} "
              f"{img['mode']} {img['bit_depth']}-bit")
    out.print(f"  config   {json.dumps(d['config'])}")
    out.print(f"  size     {d['bytes']} bytes, {d['bpp']:.4f} bpp "
              f"(payload {d['payload_bytes']} bytes, {d['payload_bpp']:.4f} bpp)")
    out.print(f"  sections {d['sections']}")
    if d.get("macs_per_pixel") is not None:
        name = f"{d['decoder']}, " if d.get("decoder") else ""
        out.print(f"  decoder  {name}{d['macs_per_pixel']:.1f} MAC per pixel")
    cost = d["decode_cost"]
    if cost is None:
        out.print(f"  decode   refused: {d['decode_error']}", highlight=False)
    else:
        out.print(f"  decode   {cost['macs']:.3g} MAC, {cost['params']} parameters, about "
                  f"{cost['peak_bytes'] / 2**20:.0f} MiB of memory")


@app.command()
def codecs() -> None:
    """List codecs, their presets and settings."""
    import dataclasses

    from ..codecs.registry import CODECS

    for name, cls in CODECS.items():
        fields = ", ".join(f"{f.name}={f.default!r}" if f.default is not dataclasses.MISSING
                           else f.name for f in dataclasses.fields(cls.settings_cls))
        out.print(f"[bold]{name}[/bold]  presets: {', '.join(cls.presets)}")
        out.print(f"    {fields}", highlight=False)


@app.command()
@handle_errors
def demo(
    codec: str = typer.Option(DEFAULT_CODEC, "--codec", "-c"),
    preset: str | None = typer.Option(None, "--preset", "-p"),
    steps: int | None = typer.Option(None, "--steps"),
    sample: str = typer.Option("both", "--sample", help="smooth (kodim23), detailed (kodim01) "
                               "or both."),
    outdir: Path = typer.Option(Path("demo-out"), "--outdir", help="Where to write results."),
) -> None:
    """Code the shipped samples, compare with JPEG, WebP, AVIF and JPEG XL at the same size."""
    from .demo import SAMPLES, run_demo

    if sample not in (*SAMPLES, "both"):
        raise ConfigError(f"--sample must be one of {', '.join(SAMPLES)} or both")
    run_demo(codec, preset, steps, outdir, list(SAMPLES) if sample == "both" else [sample])


def _with_labels(loss: str, mask: Path, slice_: int | None, image: Any) -> Any:
    """The loss with its label-using terms bound to the mask's slice (ConfigError when no term
    of the loss uses labels)."""
    from ..io.nifti import is_nifti, read_labels
    from ..losses import parse_loss

    parsed = parse_loss(loss)
    if not parsed.uses_context:
        raise ConfigError(f"--mask is read by loss terms that use labels (e.g. 'mse+1*sinco'); "
                          f"{loss!r} has none")
    if not is_nifti(mask):
        raise InputError(f"{mask}: the mask must be a NIfTI label volume")
    labels = read_labels(mask, slice_, shape=(image.height, image.width))
    return parsed.bind({"labels": labels})


for _name, _fn in (("bench", bench_cli.bench), ("report", bench_cli.report),
                   ("export", bench_cli.export), ("import", bench_cli.import_cmd)):
    app.command(_name)(handle_errors(_fn))
app.add_typer(medical_cli.app, name="medical")


def main() -> None:
    try:
        app()
    except BrokenPipeError:
        sys.exit(1)


if __name__ == "__main__":
    main()
