"""Cool-chic v2 fit trajectory: PSNR with rounded latents and the ARM's latent rate every N
steps of one `fit` phase (no warm-up, no STE, no weight quantisation), one JSON line each.

Used to find why smooth images converged slowly (benchmarks/results/coolchic_trajectory.jsonl,
batch "2026-11-25 gradient clipping"):

    python benchmarks/coolchic_trajectory.py kodim15 kodak6-half 4000 1e-3 '{"grad_clip": 0}'
    python benchmarks/coolchic_trajectory.py kodim15 kodak6 2000 1e-3 \
        '{"compile": true, "threads": 2, "every": 100}'

Settings are the `fast` preset's plus the JSON overrides; "threads" (default 1) and "every"
(default 200) are options of this script. The model starts from seed 0.
"""

from __future__ import annotations

import json
import math
import sys
import time

import torch

from inrcodec.bench.protocols import protocol_images
from inrcodec.codecs.base import Progress
from inrcodec.codecs.coolchic import CoolChicV2
from inrcodec.codecs.coolchic.model import CoolChicModel
from inrcodec.codecs.coolchic.train import Phase, train_phase
from inrcodec.losses import parse_loss


def main() -> None:
    if len(sys.argv) < 5 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    name, protocol, steps, lmbda = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    threads, every = int(extra.pop("threads", 1)), int(extra.pop("every", 200))
    torch.set_num_threads(threads)
    image = protocol_images(protocol, (name,))[name]
    s = CoolChicV2.make_settings("fast", lmbda=lmbda, steps=steps, **extra)
    torch.manual_seed(0)
    target = image.data.unsqueeze(0)
    model = CoolChicModel(s, image.height, image.width, image.channels)
    t0 = time.perf_counter()

    def report(p: Progress) -> None:
        if p.step % every and p.step != p.total:
            return
        with torch.no_grad():
            lat = model.rounded_latents()
            mse = float(((model.render(lat).clamp(0, 1) - target) ** 2).mean())
            bits = float(model.bits(lat))
        print(json.dumps({"image": name, "protocol": protocol, "lmbda": lmbda, "fit_steps": steps,
                          "settings": extra, "threads": threads, "step": p.step,
                          "psnr_proxy": round(p.psnr, 2),
                          "psnr_rounded": round(-10 * math.log10(mse), 2),
                          "latent_bpp": round(bits / model.num_pixels, 4),
                          "nonzero_per_level": [round(float((y != 0).float().mean()), 3)
                                                for y in lat],
                          "seconds": round(time.perf_counter() - t0)}), flush=True)

    train_phase(model, parse_loss("mse"), target, s, Phase.fit(s), progress=report)


if __name__ == "__main__":
    main()
