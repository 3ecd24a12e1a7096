"""Cool-chic 1.0's training loop against ours from the same initial weights (issue 17).

    PYTHONPATH=/work/forks/shim:src /work/forks/venv/bin/python benchmarks/forks_loop_check.py \
        --side fork --seed 1 --warm 200        # then --side ours with the same arguments

Run in the forks' venv (benchmarks/forks_env.sh), with our package on the path, one side per
process (one CPU-heavy run at a time). Our `icip24` model (recipe cc1) is built with
torch.manual_seed(seed); for --side fork its weights are copied into the 1.0 fork's
CoolChicEncoder (ARM inputs permuted into our context order, as forks_module_check.py) and the
fork's own model_management.trainer.train runs (`--warm` steps, then `--steps`, a fresh Adam
each, as its encode.py's warm-up and main phase); for --side ours, recipes.train_cc1 does the
same. The uniform noise differs (another draw order), so the two trajectories agree in
distribution, not bit for bit. Prints the validation every 100 steps (the fork: its own table;
ours: loss x 1e3, PSNR, rate in bpp of the rounded latents) and the CPU seconds.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch

IMAGE = "/work/runs/forks/kodim23-half.png"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", choices=("fork", "ours"), required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--warm", type=int, default=0, help="a warm-up training before (0: none)")
    ap.add_argument("--cc1-fork", default="/work/forks/cc-1.0-adaptations")
    ap.add_argument("--image", default=IMAGE)
    args = ap.parse_args()
    torch.set_num_threads(1)

    import inrcodec
    from inrcodec.codecs.coolchic import recipes
    from inrcodec.codecs.coolchic.arm import context_offsets
    from inrcodec.codecs.coolchic.configs import CoolChicV1
    from inrcodec.codecs.coolchic.model import CoolChicModel
    from inrcodec.losses import parse_loss

    img = inrcodec.read_image(args.image)
    target = img.data.unsqueeze(0)
    h, w = img.height, img.width
    s = CoolChicV1.make_settings("icip24", lmbda=1e-3)
    torch.manual_seed(args.seed)
    o = CoolChicModel(s, h, w, 3)
    t0 = time.process_time()
    phases = [n for n in (args.warm, args.steps) if n]
    if args.side == "fork":
        sys.path.insert(0, args.cc1_fork + "/src")
        from losses import build_loss
        from model_management.trainer import train
        from models.cool_chic import CoolChicEncoder

        f = CoolChicEncoder((h, w), layers_synthesis=[12, 12], layers_arm=[12, 12],
                            n_ctx_rowcol=2, latent_n_grids=7)
        p = torch.eye(12)[torch.tensor([(dy + 2) * 5 + (dx + 2)
                                        for dy, dx in context_offsets(12)])]
        syn = [m for m in f.synthesis.mlp if hasattr(m, "w")]
        arm = [m for m in f.arm.mlp if hasattr(m, "w")]
        with torch.no_grad():
            for g, ours in zip(f.latent_grids, o.latents.grids, strict=True):
                g.copy_(ours)
            f.log_2_encoder_gains.copy_(o.latents.log2_gains)
            for c, m in zip(o.synthesis.convs, syn, strict=True):
                m.w.copy_(c.weight[:, :, 0, 0])
                m.b.copy_(c.bias)
            (l0, l1, l2), (m0, m1, m2) = o.arm.layers, arm
            m0.w.copy_(p.T @ l0.weight @ p)
            m0.b.copy_(p.T @ l0.bias)
            m1.w.copy_(p.T @ l1.weight @ p)
            m1.b.copy_(p.T @ l1.bias)
            m2.w.copy_(l2.weight @ p)
            m2.b.copy_(l2.bias)
        torch.manual_seed(1000 + args.seed)
        for n in phases:
            train(f, target, build_loss("mse:1.0"), n_itr=n, start_lr=1e-2, lmbda=1e-3)
    else:
        loss = parse_loss("mse")
        validation = recipes.validation

        def logged(model, loss, target, s):  # noqa: ANN001, ANN202
            v = validation(model, loss, target, s)
            with torch.no_grad():
                im, bits = recipes.forward(model, s, "round")
                d = float(loss(im, target))
            print(f"{v * 1e3:.3f} psnr {-10 * math.log10(d):.2f} "
                  f"rate {float(bits) / model.num_pixels:.4f}", flush=True)
            return v

        recipes.validation = logged
        torch.manual_seed(1000 + args.seed)
        for n in phases:
            recipes.train_cc1(o, loss, target, s, n, "fit")
    print(f"cpu {time.process_time() - t0:.0f} s")


if __name__ == "__main__":
    main()
