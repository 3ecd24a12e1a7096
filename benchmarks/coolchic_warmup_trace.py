"""Trace a `coolchic` encode: at every evaluation of every phase (warm-up candidates, main,
final), the real objective, PSNR, latent rate and the share of non-zero latents per grid; then
the encode's log (objectives before and after quantisation and RDOQ).

Used to find why the warm-up's winner could end 1.5 dB short on kodim23 (half size, lambda
4e-3): its finest level was already all zero (benchmarks/results/coolchic_vs_cc501_w05_fmt2.md).

    python benchmarks/coolchic_warmup_trace.py kodim23 4e-3 '{"warmup_rate_weight": 1.0}'
    python benchmarks/coolchic_warmup_trace.py kodim23 4e-3 '{}' --candidates 1,1
    python benchmarks/coolchic_warmup_trace.py kodim23 2e-2 '{"rdoq": true}'

The image is a kodak6-half image by name (or a path); settings are the `fast` preset's plus the
JSON overrides; `--candidates N1,N2` changes the warm-up's two stages (1,1: candidate 0 only).
One thread; seed 0 unless `--seed`.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

import inrcodec
from inrcodec.bench.protocols import protocol_images
from inrcodec.codecs.coolchic.five import train
from inrcodec.codecs.registry import get_codec
from inrcodec.losses import parse_loss


def traced_evaluation(orig):  # type: ignore[no-untyped-def]
    def evaluation(model, loss, target, lmbda, levels):  # type: ignore[no-untyped-def]
        run = orig(model, loss, target, lmbda, levels)

        def traced() -> float:
            v = run()
            with torch.no_grad():
                img, bits = model("round")
                mse = float(((img - target) ** 2).mean())
                grids = model.grid_values(model.rounded())
            share = " ".join(f"{'h' if g.hyper else 'L'}{g.level}:"
                             f"{float((q != 0).float().mean()):.3f}" for g, q in grids.items())
            print(f"  objective {v * 1e3:.3f}e-3  {-10 * math.log10(mse):.2f} dB  "
                  f"{float(bits) / model.num_pixels:.4f} bpp  non-zero {share}", flush=True)
            return v

        return traced

    return evaluation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("image")
    ap.add_argument("lmbda", type=float)
    ap.add_argument("settings", nargs="?", default="{}")
    ap.add_argument("--candidates", default="")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    img = (inrcodec.read_image(a.image) if Path(a.image).is_file()
           else protocol_images("kodak6-half", (a.image,))[a.image])
    train.evaluation = traced_evaluation(train.evaluation)
    if a.candidates:
        train.CANDIDATES = tuple(int(x) for x in a.candidates.split(","))
    codec = get_codec("coolchic")
    s = codec.make_settings("fast", lmbda=a.lmbda, **json.loads(a.settings))
    print(s, flush=True)
    t = time.process_time()
    out = codec.encode(img, parse_loss("mse"), s, device=torch.device("cpu"), seed=a.seed)
    print({k: v for k, v in out.log.items() if not isinstance(v, dict) or k == "plan"})
    print(f"{time.process_time() - t:.0f} CPU s")


if __name__ == "__main__":
    main()
