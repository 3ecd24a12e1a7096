"""Cool-chic 1.0's and 2.0's training loops against ours from the same initial weights (issue 17).

    PYTHONPATH=/work/forks/shim:src /work/forks/venv/bin/python benchmarks/forks_loop_check.py \
        --side fork --seed 1 --warm 200        # then --side ours with the same arguments
    ... forks_loop_check.py --codec cc2 --side fork --seed 1 --steps 1000
    ... forks_loop_check.py --codec cc2 --warmup --side fork --seed 1
    ... forks_loop_check.py --codec cc2 --phase1 --seed 1 --steps 1000 --noise-seeds 1,2,3,4

Run in the forks' venv (benchmarks/forks_env.sh), with our package on the path, one side per
process (one CPU-heavy run at a time). Our `icip24` model (recipe cc1) is built with
torch.manual_seed(seed); for --side fork its weights are copied into the 1.0 fork's
CoolChicEncoder (ARM inputs permuted into our context order, as forks_module_check.py) and the
fork's own model_management.trainer.train runs (`--warm` steps, then `--steps`, a fresh Adam
each, as its encode.py's warm-up and main phase); for --side ours, recipes.train_cc1 does the
same. The uniform noise differs (another draw order), so the two trajectories agree in
distribution, not bit for bit. Prints the validation every 100 steps (the fork: its own table;
ours: loss x 1e3, PSNR, rate in bpp of the rounded latents) and the CPU seconds.

--codec cc2: our Cool-chic v2 `icip24` model (recipe cc2), copied into the 2.0 fork's
CoolChicEncoder (its study layers: synthesis 40-1-linear-relu,3-1-linear-relu,
3-3-residual-relu,3-3-residual-none, ARM 24,24, 3 context rows); the first phase of its
"faster" preset (Adam at 1e-2 over everything, uniform noise), `--steps` long: the fork's
model_management.trainer.one_training_phase against our recipes.train_cc2_phase.
--codec cc2 --warmup: the whole warm-up competition of the "faster" preset (rounds of 5, 4, 3
and 2 candidates, 200 steps each, sorted after each round) from the five initial candidates our
encode with that seed starts from; prints each round's validations (x 1e3) and the winner.
--codec cc2 --phase1: the preset's second phase (Adam at lr/2 over everything, 500 steps) from
one shared state (our model of --seed after a first phase of --steps), on both sides in one
process, once per noise seed: the fork's one_training_phase and our train_cc2_phase end at
validations (x 1e3) that can be compared seed by seed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch

IMAGE = "/work/runs/forks/work/kodim23-half.png"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", choices=("fork", "ours"), help="required but with --phase1")
    ap.add_argument("--codec", choices=("cc1", "cc2"), default="cc1")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--warm", type=int, default=0, help="a warm-up training before (0: none)")
    ap.add_argument("--warmup", action="store_true",
                    help="cc2: the warm-up competition from our seed's five candidates")
    ap.add_argument("--phase1", action="store_true",
                    help="cc2: the second phase from one shared state, both sides")
    ap.add_argument("--noise-seeds", default="1,2,3,4", help="with --phase1")
    ap.add_argument("--cc1-fork", default="/work/forks/cc-1.0-adaptations")
    ap.add_argument("--cc2-fork", default="/work/forks/cc-2.0-adaptations")
    ap.add_argument("--image", default=IMAGE)
    args = ap.parse_args()
    if args.side is None and not args.phase1:
        ap.error("--side is required (but with --codec cc2 --phase1, which runs both)")
    torch.set_num_threads(1)

    import inrcodec
    from inrcodec.codecs.coolchic import recipes
    from inrcodec.codecs.coolchic.arm import context_offsets
    from inrcodec.codecs.coolchic.configs import CoolChicV1
    from inrcodec.codecs.coolchic.model import CoolChicModel
    from inrcodec.losses import parse_loss

    img = inrcodec.read_image(args.image)
    target = img.data.unsqueeze(0)
    if args.codec == "cc2":
        check_cc2(args, target)
        return
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
            _arm_to_fork(o.arm.layers, arm, p, "w", "b")
        torch.manual_seed(1000 + args.seed)
        for n in phases:
            train(f, target, build_loss("mse:1.0"), n_itr=n, start_lr=1e-2, lmbda=1e-3)
    else:
        loss = parse_loss("mse")
        recipes.validation = _validation_printer(recipes, loss)
        torch.manual_seed(1000 + args.seed)
        for n in phases:
            recipes.train_cc1(o, loss, target, s, n, "fit")
    print(f"cpu {time.process_time() - t0:.0f} s")


def _arm_to_fork(ours, fork, p: torch.Tensor, w: str, b: str) -> None:  # noqa: ANN001
    """Our ARM's three layers into the fork's (attributes `w`, `b`): its inputs are the
    context in the fork's order, p @ (ours) maps ours to it."""
    (l0, l1, l2), (m0, m1, m2) = ours, fork
    getattr(m0, w).copy_(p.T @ l0.weight @ p)
    getattr(m0, b).copy_(p.T @ l0.bias)
    getattr(m1, w).copy_(p.T @ l1.weight @ p)
    getattr(m1, b).copy_(p.T @ l1.bias)
    getattr(m2, w).copy_(l2.weight @ p)
    getattr(m2, b).copy_(l2.bias)


def _validation_printer(recipes, loss):  # noqa: ANN001, ANN202
    """recipes.validation, also printing loss x 1e3, PSNR and rate (rounded latents)."""
    validation = recipes.validation

    def logged(model, loss_, target, s):  # noqa: ANN001, ANN202
        v = validation(model, loss_, target, s)
        with torch.no_grad():
            im, bits = recipes.forward(model, s, "round")
            d = float(loss(im, target))
        print(f"{v * 1e3:.3f} psnr {-10 * math.log10(d):.2f} "
              f"rate {float(bits) / model.num_pixels:.4f}", flush=True)
        return v
    return logged


def _cc2_fork_model(o, target: torch.Tensor, fork: str):  # noqa: ANN001, ANN202
    """The 2.0 fork's CoolChicEncoder (the study's layers) holding our model `o`'s weights."""
    if fork + "/src" not in sys.path:  # once, though every warm-up candidate comes here
        sys.path.insert(0, fork + "/src")
    from models.cool_chic import CoolChicEncoder, CoolChicParameter

    from inrcodec.codecs.coolchic.arm import context_offsets

    param = CoolChicParameter(
        lmbda=1e-3, img=target, img_type="rgb444", dist="mse:1.0", layers_arm=[24, 24],
        layers_synthesis=["40-1-linear-relu", "3-1-linear-relu", "3-3-residual-relu",
                          "3-3-residual-none"], n_ctx_rowcol=3, latent_n_grids=7)
    f = CoolChicEncoder(param)
    p = torch.eye(24)[torch.tensor([(dy + 3) * 7 + (dx + 3) for dy, dx in context_offsets(24)])]
    arm = [m for m in f.arm.mlp if hasattr(m, "weight")]
    with torch.no_grad():
        for g, ours in zip(f.latent_grids, o.latents.grids, strict=True):
            g.copy_(ours)
        f.log_2_encoder_gains.copy_(o.latents.log2_gains)
        f.upsampling.upsampling_layer.weight.copy_(o.upsampling.kernel[None, None])
        convs = [m.conv_layer for m in f.synthesis.layers if hasattr(m, "conv_layer")]
        for c, m in zip(o.synthesis.convs, convs, strict=True):
            m.weight.copy_(c.weight)
            m.bias.copy_(c.bias)
        _arm_to_fork(o.arm.layers, arm, p, "weight", "bias")
    return f


def check_cc2(args: argparse.Namespace, target: torch.Tensor) -> None:
    from inrcodec.codecs.coolchic import recipes
    from inrcodec.codecs.coolchic.configs import CoolChicV2
    from inrcodec.codecs.coolchic.model import CoolChicModel
    from inrcodec.losses import parse_loss

    h, w = target.shape[-2:]
    s = CoolChicV2.make_settings("icip24", lmbda=1e-3)
    if args.warmup:
        warmup_cc2(args, target, s)
        return
    if args.phase1:
        phase1_cc2(args, target, s)
        return
    torch.manual_seed(args.seed)
    o = CoolChicModel(s, h, w, 3)
    t0 = time.process_time()
    if args.side == "fork":
        f = _cc2_fork_model(o, target, args.cc2_fork)
        from model_management.presets import TrainerPhase
        from model_management.trainer import one_training_phase

        torch.manual_seed(1000 + args.seed)
        one_training_phase(f, TrainerPhase(lr=1e-2, max_itr=args.steps, dist="mse:1.0"))
    else:
        from inrcodec.fitting import train

        loss = parse_loss("mse")
        log = _validation_printer(recipes, loss)
        chosen, rest = recipes._groups(o, "all")
        opt = torch.optim.Adam([{"params": chosen, "lr": 1e-2}], lr=1e-2)
        mode = {"proxy": "noise"}
        torch.manual_seed(1000 + args.seed)
        train(o, recipes._objective(o, loss, target, s, mode), opt, args.steps,
              grad_clip=s.grad_clip, keep_best=False, validate=lambda: log(o, loss, target, s),
              validate_every=100)
    print(f"cpu {time.process_time() - t0:.0f} s")


def warmup_cc2(args: argparse.Namespace, target: torch.Tensor, s) -> None:  # noqa: ANN001
    """2.0's warm-up competition (rounds of 5, 4, 3, 2 candidates, 200 steps each, sorted by
    the validation after each round) from our seed's five initial candidates, which are the
    ones our encode starts from: the fork's one_training_phase or our train_cc2_phase."""
    from inrcodec.codecs.coolchic import recipes
    from inrcodec.codecs.coolchic.model import CoolChicModel
    from inrcodec.losses import parse_loss

    h, w = target.shape[-2:]
    n, steps = s.warmup_candidates, s.warmup_steps
    cands = []
    for c in range(n):  # as recipes._new_model
        torch.manual_seed(args.seed * 1009 + c)
        cands.append((c, CoolChicModel(s, h, w, 3)))
    t0 = time.process_time()
    loss = parse_loss("mse")
    if args.side == "fork":
        cands = [(c, _cc2_fork_model(o, target, args.cc2_fork)) for c, o in cands]
        from model_management.presets import TrainerPhase
        from model_management.trainer import one_training_phase

        def one_round(model):  # noqa: ANN001, ANN202
            model, results = one_training_phase(
                model, TrainerPhase(lr=s.lr, max_itr=steps, dist="mse:1.0"))
            return model, float(results.loss) * 1e3
    else:
        def one_round(model):  # noqa: ANN001, ANN202
            v = recipes.train_cc2_phase(model, loss, target, s, s.lr, steps, "all", False,
                                        "warmup")
            return model, v * 1e3
    torch.manual_seed(1000 + args.seed)
    for count in range(n, 1, -1):
        scored = []
        for c, model in cands[:count]:
            model, v = one_round(model)
            scored.append((v, c, model))
        scored.sort(key=lambda x: (x[0], x[1]))
        cands = [(c, m) for _, c, m in scored]
        print("round " + " ".join(f"{c}:{v:.4f}" for v, c, _ in scored), flush=True)
    print(f"winner {cands[0][0]} {scored[0][0]:.4f} cpu {time.process_time() - t0:.0f} s")


def phase1_cc2(args: argparse.Namespace, target: torch.Tensor, s) -> None:  # noqa: ANN001
    """The faster preset's second phase (all modules, 500 steps at lr/2) from one state, the
    fork's loop and ours once per noise seed."""
    import copy

    from inrcodec.codecs.coolchic import recipes
    from inrcodec.codecs.coolchic.model import CoolChicModel
    from inrcodec.losses import parse_loss

    h, w = target.shape[-2:]
    loss = parse_loss("mse")
    torch.manual_seed(args.seed)
    o = CoolChicModel(s, h, w, 3)
    t0 = time.process_time()
    torch.manual_seed(1000 + args.seed)
    v = recipes.train_cc2_phase(o, loss, target, s, s.lr, args.steps, "all", False, "first")
    print(f"first phase ({args.steps} steps, ours) {v * 1e3:.4f}", flush=True)
    for k in (int(x) for x in args.noise_seeds.split(",")):
        ours = copy.deepcopy(o)
        torch.manual_seed(2000 + k)
        v = recipes.train_cc2_phase(ours, loss, target, s, s.lr / 2, 500, "all", False, "p1")
        # a fresh copy each time: the fork's model does not deep-copy (its quantiser object)
        f = _cc2_fork_model(copy.deepcopy(o), target, args.cc2_fork)
        from model_management.presets import TrainerPhase
        from model_management.trainer import one_training_phase

        torch.manual_seed(2000 + k)
        _, results = one_training_phase(f, TrainerPhase(lr=s.lr / 2, max_itr=500,
                                                        dist="mse:1.0"))
        print(f"noise seed {k}: ours {v * 1e3:.4f} fork {float(results.loss) * 1e3:.4f}",
              flush=True)
    print(f"cpu {time.process_time() - t0:.0f} s")


if __name__ == "__main__":
    main()
