"""What the whole-tumour segmenter costs inside SINCO's loss, next to the INRs' own steps.

Measures, in one process and one thread on one 240x240 FLAIR slice: the U-Net's forward MACs
(medical/flops.py), the median seconds of its forward + backward to the input (frozen weights,
what the sinco term adds to a step), and the seconds per training step of the study's INRs with
the mse loss and with the sinco term (an encode of a few steps through the public API,
fit_seconds / fit_steps). Writes one JSON file and prints a markdown table.

    python benchmarks/segmenter_cost.py --unet src/inrcodec/weights/unet_wt_flair.npz \
        -o benchmarks/results/sinco/segmenter_cost.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from pathlib import Path

import torch

import inrcodec
from inrcodec.io import read_slice
from inrcodec.medical.flops import describe, segmenter_step_seconds
from inrcodec.medical.task_loss import sinco_loss
from inrcodec.medical.unet import load_unet

SLICE = ("../shared/data/mri/OtherEXampleFromTCIA/fla.nii.gz", 87)
INRS = {  # label: (codec, preset, settings); the Table 1 networks at ~1.2 bpp (16 x params)
    "COIN (siren 4x37)": ("siren", "default", {"layers": 4, "width": 37}),
    "Vanilla INR, 2026-11 (pe-mlp 3x39, 7 bands)": (
        "pe-mlp", "default", {"layers": 3, "width": 39, "bands": 7, "skips": ()}),
    "SINCO's INR (pe-mlp preset sinco)": ("pe-mlp", "sinco", {}),
}


def step_seconds(image, codec: str, preset: str, settings: dict, loss, steps: int) -> float:
    data = inrcodec.encode(image, codec=codec, preset=preset, loss=loss, device="cpu",
                           lpips=False, metrics=False, steps=steps, qat_steps=0, **settings)
    return data.log["fit_seconds"] / data.log["fit_steps"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--unet", type=Path, default=None, help="weights (default: shipped)")
    ap.add_argument("--steps", type=int, default=30, help="INR steps timed per encode")
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    net = load_unet(args.unet)
    image = read_slice(*SLICE)
    gt = read_slice(SLICE[0].replace("fla", "seg"), SLICE[1]).data[0].numpy() > 0
    arch = describe(net)
    unet_s = segmenter_step_seconds(net, repeats=15)
    rows = []
    for label, (codec, preset, settings) in INRS.items():
        plain = step_seconds(image, codec, preset, settings, "mse", args.steps)
        with_term = step_seconds(image, codec, preset, settings,
                                 sinco_loss("mse", 1.0, mask=gt, net=net, per_pixel=True),
                                 args.steps)
        rows.append({"inr": label, "codec": codec, "preset": preset, "settings": settings,
                     "step_seconds_mse": plain, "step_seconds_sinco": with_term})
    result = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": platform.machine(), "torch": torch.__version__, "threads": 1,
        "load_average": os.getloadavg(), "slice": list(SLICE), "unet": arch,
        "unet_forward_backward_seconds": unet_s, "inrs": rows}
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(f"U-Net: {arch['text']}; forward + backward {unet_s * 1e3:.0f} ms")
    print("| INR | step, mse (ms) | step, mse + sinco (ms) | U-Net share of the SINCO step |")
    print("|---|---|---|---|")
    for r in rows:
        share = (r["step_seconds_sinco"] - r["step_seconds_mse"]) / r["step_seconds_sinco"]
        print(f"| {r['inr']} | {r['step_seconds_mse'] * 1e3:.0f} | "
              f"{r['step_seconds_sinco'] * 1e3:.0f} | {share:.0%} |")


if __name__ == "__main__":
    main()
