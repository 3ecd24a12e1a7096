"""`inrcodec medical ...`: train-unet, evaluate-unet, segment, overlays (a typer sub-app
the main CLI mounts).

The SINCO study itself is a bench spec (`inrcodec bench benchmarks/specs/sinco-*.toml`); its
task metric (Dice) and loss terms (sinco) come from the medical plugin.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..console import out, progress_bar
from ..errors import ConfigError, InputError
from .common import handle_errors

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Medical images: U-Net training and evaluation, segmentation, "
                  "segmentation overlays.")


def train_unet_cmd(
    data: Path = typer.Option(Path("../shared/data/mri/brats18"), "--data",
                              help="Folder of cases (<case>/fla.nii.gz, seg.nii.gz)."),
    split: Path | None = typer.Option(None, "--split", help="Split JSON (train / validation "
                                      "/ test case names; default: the packaged BraTS split)."),
    epochs: int = typer.Option(60, "--epochs"),
    samples: int = typer.Option(1600, "--samples", help="Augmented crops per epoch."),
    batch: int = typer.Option(16, "--batch"),
    crop: int = typer.Option(128, "--crop", help="Training crop size (the network is applied "
                             "to whole slices at test time)."),
    lr: float = typer.Option(2e-3, "--lr", help="AdamW peak learning rate (cosine decay)."),
    seed: int = typer.Option(0, "--seed"),
    context: int = typer.Option(0, "--context", help="2.5D: neighbouring slices on each side "
                                "as input channels (0: 2D, what SINCO's loss can use)."),
    channels: str = typer.Option("8,16,32,64", "--channels", help="U-Net channels per level."),
    stem: int = typer.Option(2, "--stem", help="1: full resolution; 2: the U-Net at H/2."),
    modality: str = typer.Option("fla", "--modality", help="fla, t1, t1c or t2."),
    checkpoints: Path = typer.Option(Path("runs/unet"), "--checkpoints",
                                     help="Checkpoint folder (last.pt after every epoch)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --checkpoints."),
    init: Path | None = typer.Option(None, "--init", help="Start from these weights."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads."),
    output: Path = typer.Option(Path("unet_wt_flair.npz"), "-o", "--output",
                                help="Weights file (.npz, fp16): the best validation epoch."),
    report: Path | None = typer.Option(None, "--report", help="Write STEM.md / STEM.json: "
                                       "Dice on the validation and test cases."),
) -> None:
    """Train the whole-tumour U-Net on the split's training cases, select it on the validation
    cases, checkpoint every epoch (--resume continues), report validation and test Dice."""
    import torch

    from ..io import check_output_path
    from ..medical.split import load_split
    from ..medical.train_unet import TrainSettings, train
    from ..medical.unet import load_unet, save_weights

    check_output_path(output)
    if init is not None and not init.is_file():
        raise InputError(f"{init}: no such weights file")
    if threads is not None:
        if threads < 1:
            raise ConfigError("--threads must be >= 1")
        torch.set_num_threads(threads)
    settings = TrainSettings(epochs=epochs, samples=samples, batch=batch, crop=crop, lr=lr,
                             seed=seed, context=context, channels=_channels(channels),
                             stem=stem, modality=_modality(modality))
    the_split = load_split(split)
    with progress_bar("[bold]{task.description}", "{task.fields[info]}") as bar:
        task = bar.add_task("epoch", total=None, info="")

        def progress(step: int, steps: int, epoch: int, total: int, loss: float,
                     score: float | None) -> None:
            val = "" if score is None else f", val Dice {score:.3f}"
            bar.update(task, completed=step, total=steps, description=f"epoch {epoch}/{total}",
                       info=f"loss {loss:.4f}{val}")

        run = train(data, the_split, settings, checkpoints, resume=resume,
                    init=None if init is None else load_unet(init), progress=progress,
                    log=lambda msg: bar.console.print(msg, highlight=False))
    info = {"settings": run["settings"], "best_epoch": run["best_epoch"],
            "best_validation_dice": run["best_score"], "train_seconds": run["seconds"],
            "threads": run["threads"], "history": run["history"],
            "split": {k: list(v) for k, v in the_split.parts().items()}}
    save_weights(run["net"], output, info)
    out.print(f"wrote {output}: epoch {run['best_epoch']} of {settings.epochs} (validation Dice "
              f"{run['best_score']:.3f}), {run['seconds'] / 60:.0f} min of training")
    if report is not None:
        _evaluate_and_report(run["net"], data, the_split, report, info, str(output))


def evaluate_unet_cmd(
    unet: Path | None = typer.Option(None, "--unet", help="U-Net weights (default: shipped)."),
    data: Path = typer.Option(Path("../shared/data/mri/brats18"), "--data",
                              help="Folder of cases."),
    split: Path | None = typer.Option(None, "--split", help="Split JSON (default: packaged)."),
    output: Path = typer.Option(Path("segmenter"), "-o", "--output",
                                help="Report stem: writes STEM.md and STEM.json."),
) -> None:
    """Dice of the U-Net on the split's validation and test cases: mean over each case's 10
    largest-tumour slices, on Gaussian-blurred copies (sigma 2 px), and pooled per case."""
    from ..medical.split import load_split
    from ..medical.unet import default_weights_path, load_unet, weights_info

    net = load_unet(unet)
    info = weights_info(unet)
    _evaluate_and_report(net, data, load_split(split), output, info,
                         str(unet or default_weights_path().name))


def _evaluate_and_report(net, data: Path, split, stem: Path, info: dict, weights: str) -> None:
    from ..io import check_output_path
    from ..medical.evaluate import evaluate, write_report
    from ..medical.flops import describe
    from ..medical.split import check_cases

    check_output_path(stem.with_suffix(".md"))
    check_cases(data, split, ("validation", "test"))
    with progress_bar("[bold]{task.description}", eta=False) as bar:
        bar.add_task("evaluating", total=None)
        result = evaluate(net, data, split, ("validation", "test"))
    arch = describe(net)
    header = (f"# Whole-tumour segmenter: evaluation\n\nWeights `{weights}`; {arch['text']}. "
              f"Written by `inrcodec medical evaluate-unet` / `train-unet --report`.\n")
    js, md = write_report(result, stem, {"weights": weights, "architecture": arch,
                                         "training": info}, header)
    for part, block in result.items():
        s = block["summary"]
        out.print(f"{part}: mean Dice (10 largest) {s['mean_dice']:.3f}, blurred "
                  f"{s['mean_dice_blurred']:.3f}, case-level {s['pooled_dice']:.3f}")
    out.print(f"wrote {md} and {js}")


def _channels(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(c) for c in text.split(","))
    except ValueError:
        raise ConfigError(f"--channels: comma list of integers, got {text!r}") from None


def _modality(name: str) -> str:
    from ..medical.datasets import MODALITIES

    if name not in MODALITIES:
        raise ConfigError(f"unknown modality {name!r} (choose from {', '.join(MODALITIES)})")
    return name


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
    from ..io.nifti import is_nifti, read_labels
    from ..medical.dice import dice
    from ..medical.unet import load_unet, segment

    image = as_image(input, slice=slice_)
    pred = segment(image.data, load_unet(unet))[0]
    msg = f"{input}: tumour area {int(pred.sum())} pixels"
    if mask is not None:
        if not is_nifti(mask):
            raise InputError(f"{mask}: the mask must be a NIfTI label volume")
        gt = read_labels(mask, slice_, shape=(image.height, image.width))
        msg += f", Dice {dice(pred, gt):.4f} against {mask} (label > 0)"
    out.print(msg)
    if output is not None:
        _write_mask(pred.astype(np.uint8), output, image)


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


def overlays_cmd(
    db: Path = typer.Argument(..., help="Results database (or export) of a bench run whose "
                              "images have labels, e.g. the SINCO spec."),
    image: str = typer.Option(..., "--image", help="Image name as in the results (a slice, "
                              "e.g. OtherEXampleFromTCIA-fla-z087)."),
    output: Path = typer.Option(Path("overlays.png"), "-o", "--output", help="PNG file."),
    curves: str | None = typer.Option(None, "--curves", help="Comma list of curves (default: "
                                      "every INR curve, and each baseline at its lowest rate)."),
) -> None:
    """Fig. 3 of SINCO: the image with ground-truth (green) and predicted (red) tumour outlines,
    once per method, from the decoded files a bench run kept."""
    from ..bench.store import Store
    from ..io import check_output_path, read_image
    from ..medical.plots import overlay_figure
    from .common import names

    check_output_path(output)
    with Store.open(db) as store:
        rows = [r for r in store.rows("done") if r["image"] == image]
        if not rows:
            raise ConfigError(f"{db}: no finished job on image {image!r}")
        chosen = _overlay_rows(rows, names(curves) if curves else None)
        panels = []
        for r in chosen:
            path = store.artifact(r["decoded_path"])
            if path is None or not path.is_file():
                raise InputError(f"{db}: the decoded image of {r['curve']} is not kept "
                                 "(reports from an export have no artifacts)")
            panels.append((r, read_image(path)))
    original, context = _source(rows[0])
    overlay_figure(original, context["labels"], panels, output)
    out.print(f"wrote {output}")


def _overlay_rows(rows: list[dict], curves: list[str] | None) -> list[dict]:
    if curves is not None:
        missing = set(curves) - {r["curve"] for r in rows}
        if missing:
            raise ConfigError(f"no results for curve(s) {', '.join(sorted(missing))}")
        by_curve = {c: min((r for r in rows if r["curve"] == c), key=lambda r: r["bpp"])
                    for c in curves}
        return list(by_curve.values())
    chosen = [r for r in rows if r["kind"] == "inr"]
    for curve in sorted({r["curve"] for r in rows if r["kind"] == "baseline"}):
        chosen.append(min((r for r in rows if r["curve"] == curve), key=lambda r: r["bpp"]))
    return chosen


def _source(row: dict) -> tuple:
    import json

    from ..bench.images import ImageRef, load_image

    image = json.loads(row["job_json"])["image"]
    if not image.get("labels"):
        raise ConfigError(f"{row['image']}: the bench spec gave this image no labels")
    ref = ImageRef(image["path"], image["name"], image.get("reduce", 1), None,
                   image.get("slice"), image["labels"])
    return load_image(ref)


for _name, _fn in (("train-unet", train_unet_cmd), ("evaluate-unet", evaluate_unet_cmd),
                   ("segment", segment_cmd), ("overlays", overlays_cmd)):
    app.command(_name)(handle_errors(_fn))
