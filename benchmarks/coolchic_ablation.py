"""Short Cool-chic ablations: one encode per call, the settings given as JSON, one JSON line out.

Used for the v2 diagnosis recorded in benchmarks/results/coolchic_ablation.jsonl (kodak6-half
kodim23, 600 fit + 100 STE steps, one warm-up candidate, loss mse, lambda 1e-3, 1 thread):

    python benchmarks/coolchic_ablation.py coolchic-v2 kodim23 \
        '{"warmup_candidates":1,"steps":600,"ste_steps":100,"synthesis":"40-1-linear-relu,X-1-linear-none"}'

Add `crop` as a fourth argument for the 128x128 crop (64,64,192,192) of the quick grid, or
`full` for the full-size image (protocol kodak6). Settings may include "threads" (default 1)
and "seed" (the encoder's seed, default 0).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import protocol_images  # noqa: E402

from inrcodec.codecs.registry import get_codec  # noqa: E402
from inrcodec.losses import parse_loss  # noqa: E402


def main() -> None:
    name, image_name, extra = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    threads, seed = int(extra.pop("threads", 1)), int(extra.pop("seed", 0))
    torch.set_num_threads(threads)
    crop = len(sys.argv) > 4 and sys.argv[4] == "crop"
    full = len(sys.argv) > 4 and sys.argv[4] == "full"
    image = protocol_images("kodak6" if full else "kodak6-half", (image_name,))[image_name]
    if crop:
        image = image.with_data(image.data[:, 64:192, 64:192].contiguous())
    codec = get_codec(name)
    settings = codec.make_settings("fast", **extra)
    t = time.perf_counter()
    out = codec.encode(image, parse_loss("mse"), settings, device=torch.device("cpu"),
                       seed=seed)
    bits = 8 * sum(len(v) for v in out.sections.values())
    mse = float(((out.reconstruction - image.data) ** 2).mean())
    print(json.dumps({"codec": name, "image": image_name, "crop": crop, "full_size": full,
                      "settings": extra, "threads": threads, "seed": seed,
                      "payload_bpp": round(bits / image.num_pixels, 4),
                      "psnr_float": round(-10 * math.log10(mse), 2),
                      "seconds": round(time.perf_counter() - t, 1),
                      "section_bytes": out.log["section_bytes"]}), flush=True)


if __name__ == "__main__":
    main()
