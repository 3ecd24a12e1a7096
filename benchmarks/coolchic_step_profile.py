"""Where one `coolchic` training step spends its time, at an image's full size.

Builds the main phase's step (the encoder's own `make_step` and optimisers, default settings
with the chosen decoder), runs a few warm steps, times ten, and prints torch.profiler's table
of three more (self CPU time per op; with --compile the compiled forward and backward graphs
appear as `CompiledFxGraph` rows, the ops they call beneath). Torch's deterministic mode is on,
as in an encode, unless --no-deterministic. Run on an idle machine: it times the step.

    python benchmarks/coolchic_step_profile.py --image ../shared/data/kodak/kodim01.png \
        --threads 2 --compile
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
from torch.profiler import ProfilerActivity, profile

from inrcodec.api import as_image
from inrcodec.codecs.coolchic.five.model import CoolChic5Model, CoolChic5Settings
from inrcodec.codecs.coolchic.five.optim import (
    PairOptimizer,
    latent_optimizer,
    network_optimizer,
)
from inrcodec.codecs.coolchic.five.train import Phase, make_step, soft_forward
from inrcodec.fitting import deterministic
from inrcodec.losses import parse_loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", required=True)
    ap.add_argument("--decoder", default="mop")
    ap.add_argument("--lmbda", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="the bf16 autocast setting")
    ap.add_argument("--no-deterministic", action="store_true")
    ap.add_argument("--rows", type=int, default=25)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    img = as_image(a.image)
    s = CoolChic5Settings(decoder=a.decoder, lmbda=a.lmbda, bf16=a.bf16)
    torch.manual_seed(0)
    model = CoolChic5Model(s, img.height, img.width, img.channels)
    phase = Phase("main", 1000, (s.lr, s.min_lr), "softround", (0.3, 0.1), (0.2, 0.15))
    step = make_step(model, parse_loss("mse"), img.data.unsqueeze(0), s, phase,
                     soft_forward(s, "cpu", a.compile))
    opt = PairOptimizer(network_optimizer(model.network_parameters(), s.optimizer, s.lr,
                                          s.weight_decay, 10),
                        latent_optimizer(model.latent_parameters(), s.lr, (0.9, 0.999)),
                        s.grad_clip)

    def one(i: int) -> None:
        opt.zero_grad(set_to_none=True)
        loss, _ = step(i)
        loss.backward()
        opt.step()

    latents = sum(p.numel() for p in model.latent_parameters())
    with deterministic() if not a.no_deterministic else contextlib.nullcontext():
        for i in range(3):  # compilation (if any) and first-step allocations
            one(i)
        t = time.perf_counter()
        for i in range(3, 13):
            one(i)
        per = (time.perf_counter() - t) / 10
        print(f"{img.width}x{img.height} {a.decoder}, {latents} latents, threads {a.threads}, "
              f"compile {a.compile}, bf16 {a.bf16}, deterministic {not a.no_deterministic}: "
              f"{per * 1000:.0f} ms per step")
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(13, 16):
                one(i)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.rows))


if __name__ == "__main__":
    main()
