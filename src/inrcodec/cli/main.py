"""The `inrcodec` command line (typer + rich): encode, decode, eval, info, codecs, demo, and the
bench and medical command groups.

Every user-facing failure is an InrCodecError: it is printed as one line and exits with code 2.
"""

from __future__ import annotations

import json
import math
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..coding.limits import DecodeLimits
from ..console import err, out
from ..errors import ConfigError, InputError
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
    input: Path = typer.Argument(..., help="Image to compress (PNG, JPEG, 16-bit PNG, NIfTI)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output .inr file."),
    slice_: int | None = typer.Option(None, "--slice", help="Axial slice of a NIfTI volume."),
    mask: Path | None = typer.Option(None, "--mask", help="NIfTI labels (> 0) of the same "
                                     "slice, for loss terms that use labels (the sinco term's "
                                     "reference instead of g(original))."),
    codec: str = typer.Option("siren", "--codec", "-c", help="Codec name (see `inrcodec codecs`)."),
    loss: str = typer.Option("mse", "--loss", "-l", help="Loss name or weighted sum."),
    preset: str = typer.Option("default", "--preset", "-p", help="Codec preset."),
    steps: int | None = typer.Option(None, "--steps", help="Training steps."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate."),
    bits: int | None = typer.Option(None, "--bits", help="Bits per weight (8-16)."),
    lmbda: float | None = typer.Option(None, "--lmbda", help="Rate weight (Cool-chic)."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    set_: list[str] | None = typer.Option(None, "--set", help="Codec setting key=value."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_out: bool = typer.Option(False, "--json", help="Print the result summary as JSON."),
    no_lpips: bool = typer.Option(False, "--no-lpips", help="Skip LPIPS in the summary."),
) -> None:
    """Overfit a network to IMAGE and write it as a .inr file."""
    from .. import api
    from ..io import check_output_path, write_bytes

    check_output_path(output)
    settings = parse_pairs(set_)
    for key, value in (("steps", steps), ("lr", lr), ("bits", bits), ("lmbda", lmbda)):
        if value is not None:
            settings[key] = value
    image = api.as_image(input, slice=slice_)
    loss_arg: Any = loss
    if mask is not None:
        loss_arg = _with_labels(loss, mask, slice_, image)
    with TrainingProgress(enabled=not quiet and not json_out) as bar:
        result = api.encode(image, codec=codec, loss=loss_arg, preset=preset, seed=seed,
                            device=device, progress=bar, lpips=not no_lpips, **settings)
    write_bytes(output, bytes(result))
    if json_out:
        out.print_json(json.dumps(result.summary() | {"output": str(output)}, default=str))
    elif not quiet:
        print_summary(result, str(output))


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


def sample_path() -> Path:
    return Path(str(resources.files("inrcodec") / "data" / "kodim23_192x128.png"))


@app.command()
@handle_errors
def demo(
    codec: str = typer.Option("siren", "--codec", "-c"),
    preset: str = typer.Option("default", "--preset", "-p"),
    steps: int | None = typer.Option(None, "--steps"),
    outdir: Path = typer.Option(Path("demo-out"), "--outdir", help="Where to write results."),
) -> None:
    """Encode and decode the sample image shipped in the package; print bpp and quality."""
    from .. import api
    from ..io import write_bytes, write_image

    outdir.mkdir(parents=True, exist_ok=True)
    src = sample_path()
    err.print(f"sample image: {src}")
    settings = {"steps": steps} if steps else {}
    with TrainingProgress(enabled=True) as bar:
        result = api.encode(src, codec=codec, preset=preset, progress=bar, **settings)
    inr = outdir / f"sample.{codec}.inr"
    write_bytes(inr, bytes(result))
    decoded = api.decode(inr.read_bytes())
    png = outdir / f"sample.{codec}.png"
    write_image(decoded, png)
    check = api.evaluate(api.as_image(src), decoded, lpips=False)
    print_summary(result, str(inr))
    out.print(f"decoded to {png}: PSNR {check['psnr']:.2f} dB from the file")


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
