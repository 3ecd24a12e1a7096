"""Short Cool-chic ablations: one encode per call, the settings given as JSON, one JSON line out.

Used for the v2 diagnosis recorded in benchmarks/results/coolchic_ablation.jsonl (kodak6-half
kodim23, 600 fit + 100 STE steps, one warm-up candidate, loss mse, lambda 1e-3, 1 thread):

    python benchmarks/coolchic_ablation.py coolchic-v2 kodim23 \
        '{"warmup_candidates":1,"steps":600,"ste_steps":100,"synthesis":"40-1-linear-relu,X-1-linear-none"}'

Add `crop` as a fourth argument for the 128x128 crop (64,64,192,192) of the quick grid, or
`full` for the full-size image (protocol kodak6). Settings may include "threads" (default 1)
and "seed" (the encoder's seed, default 0). The encode is `inrcodec.encode` with the `fast`
preset and loss mse; payload bpp counts the payload sections, PSNR is on the reconstruction
before 8-bit rounding.
"""

from __future__ import annotations

import json
import math
import sys

import torch

import inrcodec
from inrcodec.bench.protocols import protocol_images


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    name, image_name, extra = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    threads, seed = int(extra.pop("threads", 1)), int(extra.pop("seed", 0))
    torch.set_num_threads(threads)
    crop = len(sys.argv) > 4 and sys.argv[4] == "crop"
    full = len(sys.argv) > 4 and sys.argv[4] == "full"
    image = protocol_images("kodak6" if full else "kodak6-half", (image_name,))[image_name]
    if crop:
        image = image.with_data(image.data[:, 64:192, 64:192].contiguous())
    r = inrcodec.encode(image, codec=name, preset="fast", loss="mse", seed=seed, device="cpu",
                        metrics=False, lpips=False, **extra)
    mse = float(((r.reconstruction.data - image.data) ** 2).mean())
    print(json.dumps({"codec": name, "image": image_name, "crop": crop, "full_size": full,
                      "settings": extra, "threads": threads, "seed": seed,
                      "payload_bpp": round(r.payload_bpp, 4),
                      "psnr_float": round(-10 * math.log10(mse), 2),
                      "seconds": round(r.encode_seconds, 1),
                      "section_bytes": r.log["section_bytes"]}), flush=True)


if __name__ == "__main__":
    main()
