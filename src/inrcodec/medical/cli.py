"""`inrcodec medical ...`: train-unet, segment, bench (a typer sub-app the main CLI mounts)."""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..errors import ConfigError, InputError
from .datasets import DEFAULT_ROOT

medical = typer.Typer(add_completion=False, no_args_is_help=True,
                      help="Medical images: U-Net training, segmentation, the SINCO study.")
console = Console(stderr=True)
out = Console()


def _bar() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=console)


def _floats(text: str, flag: str) -> list[float]:
    try:
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ConfigError(f"{flag} expects comma-separated numbers, got {text!r}") from None


def _names(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def train_unet_cmd(
    data: Path = typer.Option(DEFAULT_ROOT, "--data", help="Folder of cases (<case>/fla.nii.gz,"
                              " seg.nii.gz, ...)."),
    train_case: list[str] = typer.Option(["TCGA-DU-7294"], "--train-case",
                                         help="Training case (repeatable)."),
    test_case: str = typer.Option("OtherEXampleFromTCIA", "--test-case", help="Held-out case."),
    modality: str = typer.Option("fla", "--modality", help="fla, t1, t1c or t2."),
    epochs: int = typer.Option(30, "--epochs"),
    batch: int = typer.Option(8, "--batch"),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate."),
    crop: int = typer.Option(96, "--crop", help="Training crop size (>= 240: whole slices)."),
    gamma: float = typer.Option(1.5, "--gamma", help="Contrast jitter x**g, g in "
                                "[1/gamma, gamma] (1: off)."),
    seed: int = typer.Option(0, "--seed"),
    init: Path | None = typer.Option(None, "--init", help="Start from these weights (a second "
                                     "stage at a lower lr)."),
    output: Path = typer.Option(Path("unet_wt_flair.npz"), "-o", "--output",
                                help="Weights file (.npz, fp16)."),
) -> None:
    """Train the whole-tumour U-Net on TRAIN cases, report Dice on the held-out case."""
    import torch

    from ..io import check_output_path
    from .train_unet import train_unet

    check_output_path(output)
    if test_case in train_case:
        raise ConfigError("the test case must not also be a training case")
    if init is not None and not init.is_file():
        raise InputError(f"{init}: no such weights file")
    if epochs < 1 or batch < 1 or lr <= 0:
        raise ConfigError("epochs and batch must be >= 1 and lr > 0")
    torch.manual_seed(seed)
    with _bar() as bar:
        task = bar.add_task("train", total=None, info="")

        def progress(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, info=f"loss {loss:.4f}")

        log = train_unet(data, list(train_case), test_case, modality, epochs=epochs,
                         batch=batch, lr=lr, crop=crop, gamma=gamma, seed=seed, out=output,
                         init=init, progress=progress)
    t = log["test"]
    out.print(f"wrote {output}: trained on {', '.join(train_case)} ({log['train_slices']} "
              f"slices, {log['seconds']:.0f} s)")
    out.print(f"test {test_case}: volume Dice {t['volume_dice']:.3f} over {t['slices']} "
              f"slices; mean slice Dice {t['mean_slice_dice']:.3f} over {t['tumour_slices']} "
              f"tumour slices; 10 largest-tumour slices "
              f"{log['test_10_largest']['mean_slice_dice']:.3f}")


def segment_cmd(
    input: Path = typer.Argument(..., help="NIfTI volume (or image file)."),
    slice_: int | None = typer.Option(None, "--slice", help="Axial slice index (NIfTI)."),
    mask: Path | None = typer.Option(None, "--mask", help="Label volume: report Dice (label>0)."),
    unet: Path | None = typer.Option(None, "--unet", help="U-Net weights (default: shipped)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the mask (.png or "
                                       ".nii.gz)."),
) -> None:
    """Segment the whole tumour in one slice with the U-Net; Dice against --mask if given."""
    import numpy as np

    from ..api import as_image
    from ..metrics import dice
    from .unet import load_unet, segment

    image = as_image(input, slice=slice_)
    pred = segment(image.data, load_unet(unet))[0]
    msg = f"{input}: tumour area {int(pred.sum())} pixels"
    if mask is not None:
        gt = _mask_slice(mask, slice_, image)
        msg += f", Dice {dice(pred, gt):.4f} against {mask} (label > 0)"
    out.print(msg)
    if output is not None:
        _write_mask(pred.astype(np.uint8), output, image)


def _mask_slice(mask: Path, slice_: int | None, image) -> object:
    from .nifti import is_nifti, load_volume

    if not is_nifti(mask):
        raise InputError(f"{mask}: the mask must be a NIfTI label volume")
    vol, _, _ = load_volume(mask)
    k = 0 if slice_ is None else slice_
    if not 0 <= k < vol.shape[2]:
        raise InputError(f"{mask}: slice {k} out of range (0..{vol.shape[2] - 1})")
    m = vol[:, :, k] > 0
    if m.shape != (image.height, image.width):
        raise InputError(f"{mask}: slice shape {m.shape} differs from the image "
                         f"{(image.height, image.width)}")
    return m


def _write_mask(mask, output: Path, image) -> None:
    import numpy as np
    import torch

    from ..image import Image
    from ..io import write_image

    img = Image(torch.from_numpy(mask.astype(np.float32))[None], 8, "L")
    if "nifti" in image.meta:
        info = dict(image.meta["nifti"], dtype="|u1")
        img = Image(img.data / 255.0, 8, "L", meta={"nifti": info})
    write_image(img, output)


def bench_cmd(
    data: Path = typer.Option(DEFAULT_ROOT, "--data", help="Folder of cases."),
    case: str = typer.Option("OtherEXampleFromTCIA", "--case", help="Held-out test case."),
    modality: str = typer.Option("fla", "--modality"),
    slices: int = typer.Option(10, "--slices", help="Number of largest-tumour slices."),
    slice_ids: str | None = typer.Option(None, "--slice-ids", help="Explicit slice indices."),
    steps: int = typer.Option(2000, "--steps", help="Training steps per INR encode."),
    lr: float = typer.Option(1e-3, "--lr"),
    methods: str = typer.Option("paper,sweep", "--methods",
                                help="paper (Table 1), sweep (lambda sweep), none."),
    lam: float = typer.Option(1.0, "--lambda", help="SINCO lambda of Table 1."),
    paper_bpp: float = typer.Option(1.2, "--paper-bpp", help="Rate of the Table 1 networks "
                                    "(16 x parameters / pixels)."),
    lambdas: str = typer.Option("0,0.1,0.5,1,2", "--lambdas", help="Sweep values."),
    reference: str = typer.Option("mask", "--reference",
                                  help="sinco reference: mask (ground truth) or g (g(original))."),
    classical: str = typer.Option("jpeg2000,jpegxl", "--classical",
                                  help="jpeg2000, jpegxl, or none."),
    bpps: str = typer.Option("0.15,0.29,0.5,0.8,1.0,1.2", "--bpps",
                             help="Target real bpp of the classical codecs."),
    codecs: str = typer.Option("", "--codecs", help="Other registry codecs (name[:preset]), "
                               "each with lambda 0 and --lambda."),
    codec_set: list[str] | None = typer.Option(None, "--set",
                                               help="key=value for the --codecs (repeatable)."),
    unet: Path | None = typer.Option(None, "--unet", help="U-Net weights (default: shipped)."),
    outdir: Path = typer.Option(Path("sinco-results"), "--outdir"),
    seed: int = typer.Option(0, "--seed"),
    threads: int | None = typer.Option(None, "--threads", help="torch threads."),
    merge: list[Path] | None = typer.Option(None, "--merge", help="Also report the rows of "
                                            "another run's output folder (repeatable)."),
    report_only: bool = typer.Option(False, "--report-only", help="Run nothing: write the "
                                     "tables and figures from the recorded rows."),
) -> None:
    """SINCO's Table 1, the lambda sweep, classical and other codecs, plots (resumable)."""
    import torch

    from ..cli import parse_sets
    from ..codecs.registry import get_codec
    from .datasets import load_case
    from .study import Method, paper_methods, run_study, sweep_methods, write_outputs
    from .unet import load_unet, weights_info

    if threads:
        torch.set_num_threads(threads)
    if reference not in ("mask", "g"):
        raise ConfigError("--reference must be mask or g")
    c = load_case(data, case, modality)
    ids = [int(s) for s in _names(slice_ids)] if slice_ids else c.largest_tumour_slices(slices)
    for k in ids:
        if not 0 <= k < c.volume.shape[2]:
            raise InputError(f"slice {k} out of range (0..{c.volume.shape[2] - 1})")
    chosen = set(_names(methods))
    if not chosen <= {"paper", "sweep", "none"}:
        raise ConfigError("--methods: choose from paper, sweep, none")
    ms: list[Method] = []
    if "paper" in chosen:
        ms += paper_methods(steps, lr, lam, paper_bpp)
    if "sweep" in chosen:
        done = {(m.codec, m.lam) for m in ms if m.codec == "pe-mlp"}
        ms += [m for m in sweep_methods(steps, _floats(lambdas, "--lambdas"), lr)
               if (m.codec, m.lam) not in done]
    extra = parse_sets(codec_set)
    for item in _names(codecs):
        name, _, preset = item.partition(":")
        impl = get_codec(name)
        fields = set(impl.settings_cls.__dataclass_fields__)
        settings = ({"steps": steps} if "steps" in fields else {}) | extra
        impl.make_settings(preset or "default", **settings)  # validate now, not mid-run
        for lm in sorted({0.0, lam}):
            label = f"{name}{':' + preset if preset else ''} lambda={lm:g}"
            ms.append(Method(label, name, lm, settings, group="extra"))
    for m in ms:
        m.reference = reference
    for m in merge or []:
        if not (m / "results.json").is_file():
            raise InputError(f"{m}: no results.json to merge")
    cls = [] if classical.strip() in ("", "none") else _names(classical)
    net = load_unet(unet)
    meta = {"command": "inrcodec medical bench " + " ".join(_argv_tail()),
            "case": case, "modality": modality, "slices": ids, "steps": steps, "lr": lr,
            "reference": reference, "date": datetime.datetime.now(datetime.UTC).isoformat(),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
                       f"torch {torch.__version__}",
            "unet": weights_info(unet) | {"path": str(unet or "shipped")},
            "methods": [m.__dict__ for m in ms]}
    if report_only:
        from .study import Results

        outdir.mkdir(parents=True, exist_ok=True)
        results = Results(outdir / "results.json", meta, list(merge or []))
        if merge:
            results.save()  # the merged rows, in one results.json
        o = write_outputs(results, outdir, ids[0], net)
        out.print(o["markdown"])
        return
    total = len(ids) * (1 + len(ms) + len(cls) * len(_floats(bpps, "--bpps")))
    with _bar() as bar:
        task = bar.add_task("study", total=total, info="")

        def on_row(row: dict) -> None:
            bar.advance(task)
            bar.update(task, info=f"{row['method']} slice {row['slice']}: "
                                  f"{row['psnr']:.2f} dB Dice {row['dice']:.3f}")

        results = run_study(c, ids, ms, outdir, classical=cls,
                            classical_bpps=_floats(bpps, "--bpps"), net=net, meta=meta,
                            seed=seed, on_row=on_row, merge=list(merge or []))
    o = write_outputs(results, outdir, ids[0], net)
    out.print(o["markdown"])
    out.print(f"results in {outdir}/ (results.json, results.csv, table.md, plots)")


def _argv_tail() -> list[str]:
    import sys

    args = sys.argv[1:]
    return args[args.index("bench") + 1:] if "bench" in args else args


def write_json(path: Path, obj: dict) -> None:
    from ..io import write_bytes

    write_bytes(path, json.dumps(obj, indent=1).encode())
