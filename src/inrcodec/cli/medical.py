"""`inrcodec medical ...`: train-unet, segment, overlays (a typer sub-app the main CLI mounts).

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
                  help="Medical images: U-Net training, segmentation, segmentation overlays.")


def train_unet_cmd(
    data: Path = typer.Option(Path("../shared/data/mri"), "--data",
                              help="Folder of cases (<case>/fla.nii.gz, seg.nii.gz, ...)."),
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
    from ..medical.train_unet import train_unet

    check_output_path(output)
    if test_case in train_case:
        raise ConfigError("the test case must not also be a training case")
    if init is not None and not init.is_file():
        raise InputError(f"{init}: no such weights file")
    if epochs < 1 or batch < 1 or lr <= 0:
        raise ConfigError("epochs and batch must be >= 1 and lr > 0")
    torch.manual_seed(seed)
    with progress_bar("[bold]{task.description}", "{task.fields[info]}") as bar:
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


for _name, _fn in (("train-unet", train_unet_cmd), ("segment", segment_cmd),
                   ("overlays", overlays_cmd)):
    app.command(_name)(handle_errors(_fn))
