"""Module-level checks against the ICIP 2024 study's reference code: the same weights and inputs
through the forks' networks and ours must give the same numbers.

    PYTHONPATH=/work/forks/shim:src /work/forks/venv/bin/python benchmarks/forks_module_check.py \
        --nif-fork /work/forks/nif --cc1-fork /work/forks/cc-1.0-adaptations \
        --cc2-fork /work/forks/cc-2.0-adaptations

Run in the forks' venv (benchmarks/forks_env.sh), with our package on the path. Checks:
  nif   the NIF fork's NIF (config 120) and our `fork-120` network (signed output), weights
        copied (the positional encodings' columns mapped): max |difference| of the image on
        [0, 1]
  cc1   the 1.0 fork's CoolChicEncoder (synthesis and ARM 12,12, 2 context rows) and our
        `icip24` model at 256x384: x^ and the latents' rate with rounded latents (the ARM's
        inputs permuted into our context order), then the gradients of the loss D + 1e-3 R
        with straight-through latents
  cc2   the 2.0 fork's upsampling and our `learned-2d` with one random 8x8 kernel; then the
        2.0 fork's CoolChicEncoder with the study's layers (synthesis 40-1-linear-relu,
        3-1-linear-relu,3-3-residual-relu,3-3-residual-none, ARM 24,24 on 3 context rows) and
        our v2 `icip24` model, random weights copied: x^, the rate with rounded latents, and
        the gradients of D + 1e-3 R (relative to the largest), all with straight-through
        latents (rounded; 2.0's derivative 0.01)
Prints one line per check; exits 1 if a difference exceeds 1e-4 (relative 1e-6 for the rate).

With --cc2-model MODEL.pt (a model.pt that the 2.0 fork's encode.py saved, e.g. in
forks_side_by_side.py's work folder) and --image: that trained model in ours (x^ on 8-bit
levels and the rate against the fork's own), then coded by inrcodec (its weight steps searched,
the latents coded with our integer ARM): payload bytes per section and PSNR, to set beside the
fork's own file. Training and coding then separate: what ours spends more on the same model
is coding, the rest is training.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch


def _perm(freqs: int) -> list[int]:
    """Our positional-encoding column j <- the NIF fork's column."""
    ours = ["y", "x"] + [f"{fn}{d}{k}" for fn in "sc" for d in "yx" for k in range(freqs)]
    fork = ["y", "x"] + [f"{fn}{d}{k}" for k in range(freqs) for d in "yx" for fn in "sc"]
    return [fork.index(n) for n in ours]


def check_nif(path: str) -> float:
    sys.path.insert(0, path)
    from input_encoding import generate_grid
    from models.nif import NIF

    from inrcodec.codecs.inr.nif import NIFCodec

    h, w = 24, 36
    f = NIF(input_features=2, hidden_sizes=[120, 40, 28, 16],
            modulator_params={"hidden_sizes": [16, 8], "encoder_params": {"num_frequencies": 4}},
            encoder_params={"num_frequencies": 16})
    f.initialize_weights()
    codec = NIFCodec()
    o = codec.build(codec.make_settings("fork-120"), 3)
    pairs = [(o.tail, f.tail), (o.modulator.tail, f.modulator.tail),
             *zip(o.body, f.body, strict=True),
             *zip(o.modulator.layers[1:], f.modulator.hidden_layers, strict=True)]
    with torch.no_grad():
        o.head.weight.copy_(f.head.weight[:, _perm(16)])
        o.head.bias.copy_(f.head.bias)
        o.modulator.layers[0].weight.copy_(f.modulator.head.weight[:, _perm(4)])
        o.modulator.layers[0].bias.copy_(f.modulator.head.bias)
        for a, b in pairs:
            a.weight.copy_(b.weight)
            a.bias.copy_(b.bias)
        yf = f(generate_grid(None, w, h, "cpu"))
        yo = o.render(h, w)[0]
    sys.path.remove(path)
    return float(((yf + 1) / 2 - yo).abs().max())


def check_cc1(path: str) -> tuple[float, float, float, float]:
    sys.path.insert(0, path)
    from models.cool_chic import CoolChicEncoder

    from inrcodec.codecs.coolchic import recipes
    from inrcodec.codecs.coolchic.arm import context_offsets
    from inrcodec.codecs.coolchic.configs import CoolChicV1
    from inrcodec.codecs.coolchic.model import CoolChicModel

    h, w = 256, 384
    f = CoolChicEncoder((h, w), layers_synthesis=[12, 12], layers_arm=[12, 12], n_ctx_rowcol=2,
                        latent_n_grids=7)
    s = CoolChicV1.make_settings("icip24")
    o = CoolChicModel(s, h, w, 3)
    syn = [m for m in f.synthesis.mlp if hasattr(m, "w")]
    arm = [m for m in f.arm.mlp if hasattr(m, "w")]
    p = torch.eye(12)[torch.tensor([(dy + 2) * 5 + (dx + 2) for dy, dx in context_offsets(12)])]
    with torch.no_grad():
        for i, g in enumerate(f.latent_grids):
            g.copy_(torch.randn_like(g) * 3 / 2 ** i)
            o.latents.grids[i].copy_(g)
        for c, m in zip(o.synthesis.convs, syn, strict=True):
            m.w.copy_(torch.randn_like(m.w) * 0.3)
            m.b.copy_(torch.randn_like(m.b) * 0.1)
            c.weight.copy_(m.w[:, :, None, None])
            c.bias.copy_(m.b)
        for m in arm:
            m.w.copy_(torch.randn_like(m.w) * 0.2)
            m.b.copy_(torch.randn_like(m.b) * 0.1)
        (l0, l1, l2), (m0, m1, m2) = o.arm.layers, arm
        l0.weight.copy_(p @ m0.w @ p.T)
        l0.bias.copy_(p @ m0.b)
        l1.weight.copy_(p @ m1.w @ p.T)
        l1.bias.copy_(p @ m1.b)
        l2.weight.copy_(m2.w @ p.T)
        l2.bias.copy_(m2.b)
    f.eval()
    out = f(use_ste_quant=True)
    img, bits = recipes.forward(o, s, "round")
    dx = float((out["x_hat"] - img).detach().abs().max())
    drate = abs(float(out["rate_y"].detach()) - float(bits.detach())) / float(bits.detach())
    f.train()
    target = torch.rand(1, 3, h, w)
    out = f(use_ste_quant=True)
    (((out["x_hat"] - target) ** 2).mean() + 1e-3 * out["rate_y"] / (h * w)).backward()
    img, bits = recipes.forward(o, s, "ste")
    (((img - target) ** 2).mean() + 1e-3 * bits / (h * w)).backward()
    dlat = max(float((a.grad - b.grad).abs().max())
               for a, b in zip(f.latent_grids, o.latents.grids, strict=True))
    dgain = float((f.log_2_encoder_gains.grad - o.latents.log2_gains.grad).abs().max())
    sys.path.remove(path)
    return dx, drate, dlat, dgain


def check_cc2(path: str) -> float:
    sys.path.insert(0, path)
    from models.upsampling import Upsampling as ForkUpsampling

    from inrcodec.codecs.coolchic.upsampling import Upsampling

    f, o = ForkUpsampling(8), Upsampling(7, True, shared_2d=True)
    with torch.no_grad():
        k = torch.randn(8, 8)
        f.upsampling_layer.weight.copy_(k[None, None])
        o.kernel.copy_(k)
    lat = [torch.randn(1, 1, 256 >> i, 384 >> i) for i in range(7)]
    sys.path.remove(path)
    return float((f(lat) - o(lat)).abs().max())


CC2_SYNTHESIS = ["40-1-linear-relu", "3-1-linear-relu", "3-3-residual-relu", "3-3-residual-none"]


def _cc2_fork_model(path: str, target: torch.Tensor):  # noqa: ANN202
    """The 2.0 fork's CoolChicEncoder with the study's layers, for `target`."""
    sys.path.insert(0, path)
    from models.cool_chic import CoolChicEncoder, CoolChicParameter

    param = CoolChicParameter(lmbda=1e-3, img=target, img_type="rgb444", dist="mse:1.0",
                              layers_synthesis=CC2_SYNTHESIS, layers_arm=[24, 24],
                              n_ctx_rowcol=3, latent_n_grids=7)
    return CoolChicEncoder(param)


def _cc2_copy(src: dict[str, torch.Tensor], o: torch.nn.Module) -> None:
    """A 2.0 fork state dict into our v2 model (the ARM's inputs permuted into our order)."""
    from inrcodec.codecs.coolchic.arm import context_offsets

    p = torch.eye(24)[torch.tensor([(dy + 3) * 7 + (dx + 3) for dy, dx in context_offsets(24)])]
    with torch.no_grad():
        o.latents.log2_gains.copy_(src["log_2_encoder_gains"])
        for i, g in enumerate(o.latents.grids):
            g.copy_(src[f"latent_grids.{i}"])
        o.upsampling.kernel.copy_(src["upsampling.upsampling_layer.weight"][0, 0])
        for c, layer in zip(o.synthesis.convs, (0, 2, 4, 6), strict=True):
            c.weight.copy_(src[f"synthesis.layers.{layer}.conv_layer.weight"])
            c.bias.copy_(src[f"synthesis.layers.{layer}.conv_layer.bias"])
        (l0, l1, l2) = o.arm.layers
        l0.weight.copy_(p @ src["arm.mlp.0.weight"] @ p.T)
        l0.bias.copy_(p @ src["arm.mlp.0.bias"])
        l1.weight.copy_(p @ src["arm.mlp.2.weight"] @ p.T)
        l1.bias.copy_(p @ src["arm.mlp.2.bias"])
        l2.weight.copy_(src["arm.mlp.4.weight"] @ p.T)
        l2.bias.copy_(src["arm.mlp.4.bias"])


def check_cc2_model(path: str) -> tuple[float, float, float, float]:
    """The whole 2.0 model, random weights: x^, relative rate, latent and gain gradients."""
    from inrcodec.codecs.coolchic import recipes
    from inrcodec.codecs.coolchic.configs import CoolChicV2
    from inrcodec.codecs.coolchic.model import CoolChicModel

    h, w = 256, 384
    target = torch.rand(1, 3, h, w)
    f = _cc2_fork_model(path, target)
    with torch.no_grad():
        # gains off 2.0's floor of 1: at the floor its max(2^g, 1) splits the gradient in
        # two, a tie that the first step leaves (ours: clamp_min, the whole gradient)
        f.log_2_encoder_gains.copy_(torch.arange(7.0) + 0.25)
        for i, g in enumerate(f.latent_grids):
            g.copy_(torch.randn_like(g) * 3 / 4 ** i)  # /2^i: the gains 2^i
        for name, t in f.named_parameters():
            if "latent" not in name and "gains" not in name:
                t.copy_(torch.randn_like(t) * (0.2 if "arm" in name else 0.3))
    s = CoolChicV2.make_settings("icip24")
    o = CoolChicModel(s, h, w, 3)
    _cc2_copy(f.state_dict(), o)
    # train mode with straight-through latents: rounded in the forward pass, x^ not put on
    # 8-bit levels (eval mode does that, where a tie can round either way by one level)
    f.train()
    out = f(use_ste_quant=True)
    img, bits = recipes.forward(o, s, "ste")
    dx = float((out["x_hat"] - img).detach().abs().max())
    drate = abs(float(out["rate_y"].sum()) - float(bits)) / float(bits)
    (((out["x_hat"] - target) ** 2).mean() + 1e-3 * out["rate_y"].sum() / (h * w)).backward()
    (((img - target) ** 2).mean() + 1e-3 * bits / (h * w)).backward()
    dlat = max(float((a.grad - b.grad).abs().max() / b.grad.abs().max())
               for a, b in zip(f.latent_grids, o.latents.grids, strict=True))
    g = o.latents.log2_gains.grad
    dgain = float((f.log_2_encoder_gains.grad - g).abs().max() / g.abs().max())
    sys.path.remove(path)
    return dx, drate, dlat, dgain


def fork_state(path: str, model_path: str, out: str) -> None:
    """In the forks' venv: a model.pt the 2.0 fork saved (a pickled CoolChicEncoder, which
    needs its modules) as a plain state dict, with its own rounded-latent rate and x^."""
    sys.path.insert(0, path)
    f = torch.load(model_path, weights_only=False, map_location="cpu")
    sys.path.remove(path)
    f.eval()
    with torch.no_grad():
        out_f = f()
    torch.save({"state": f.state_dict(), "rate_bits": float(out_f["rate_y"].sum()),
                "x_hat": out_f["x_hat"]}, out)


def code_fork_state(state_path: str, image_path: str) -> str:
    """In our venv: that state in our v2 model and coded by inrcodec (see the docstring)."""
    import math

    import inrcodec
    from inrcodec.codecs.coolchic import recipes
    from inrcodec.codecs.coolchic.codec import code_model
    from inrcodec.codecs.coolchic.configs import CoolChicV2
    from inrcodec.codecs.coolchic.model import CoolChicModel
    from inrcodec.losses import parse_loss

    torch.set_num_threads(1)
    saved = torch.load(state_path)
    target = inrcodec.read_image(image_path).data.unsqueeze(0)
    h, w = target.shape[-2:]
    s = CoolChicV2.make_settings("icip24")
    o = CoolChicModel(s, h, w, 3)
    _cc2_copy(saved["state"], o)
    with torch.no_grad():
        img, bits = recipes.forward(o, s, "round")
        levels = (saved["x_hat"] * 255 - torch.round(img * 255)).round().abs()
        dx, ndiff = float(levels.max()), int((levels > 0).sum())
        o.fold_log_scale()
        coded = code_model(o, parse_loss("mse"), target, s)
        rec = coded.render(s, 3, h, w, torch.device("cpu"))
    ks, sections = coded.steps, coded.sections
    mse = float(((torch.round(rec.clamp(0, 1) * 255) / 255 - target) ** 2).mean())
    payload = sum(len(v) for v in sections.values())
    return (f"x^ on 8-bit levels: {ndiff} of {levels.numel()} values differ (at most {dx:.0f} "
            f"level), rounded-latent rate "
            f"{saved['rate_bits'] / (h * w):.4f} bpp (fork, its integer ARM) / "
            f"{float(bits) / (h * w):.4f} (ours); coded by inrcodec: steps {ks}, sections "
            f"{{{', '.join(f'{k}: {len(v)}' for k, v in sections.items())}}} bytes, payload "
            f"{payload} bytes ({8 * payload / (h * w):.4f} bpp), PSNR "
            f"{-10 * math.log10(mse):.2f} dB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nif-fork", default="/work/forks/nif")
    ap.add_argument("--cc1-fork", default="/work/forks/cc-1.0-adaptations")
    ap.add_argument("--cc2-fork", default="/work/forks/cc-2.0-adaptations")
    ap.add_argument("--cc2-model", help="a model.pt saved by the 2.0 fork's encode.py")
    ap.add_argument("--image", help="the image that model was trained on (with --cc2-model)")
    ap.add_argument("--python", default=str(Path(__file__).resolve().parents[1]
                                             / ".venv/bin/python"),
                    help="our venv's python, which codes the model (the forks pin an older "
                         "constriction)")
    ap.add_argument("--code-state", help=argparse.SUPPRESS)  # the step run in our venv
    args = ap.parse_args()
    if args.code_state:
        print(code_fork_state(args.code_state, args.image))
        return 0
    torch.manual_seed(0)
    ok = True
    d = check_nif(args.nif_fork)
    ok &= d < 1e-4
    print(f"nif  fork-120 network vs the fork's NIF: max |image difference| {d:.2e}")
    for name in [n for n in sys.modules if n.split(".")[0] in ("models", "modules", "utils")]:
        del sys.modules[name]  # the forks share top-level package names
    dx, drate, dlat, dgain = check_cc1(args.cc1_fork + "/src")
    ok &= dx < 1e-4 and drate < 1e-6 and dlat < 1e-4 and dgain < 1e-4
    print(f"cc1  icip24 model vs CoolChicEncoder: x^ {dx:.2e}, rate (relative) {drate:.2e}, "
          f"latent gradients {dlat:.2e}, gain gradients {dgain:.2e}")
    for name in [n for n in sys.modules if n.split(".")[0] in ("models", "modules", "utils")]:
        del sys.modules[name]
    d = check_cc2(args.cc2_fork + "/src")
    ok &= d < 1e-4
    print(f"cc2  learned-2d upsampling vs the fork's, random kernel: max difference {d:.2e}")
    dx, drate, dlat, dgain = check_cc2_model(args.cc2_fork + "/src")
    ok &= dx < 1e-4 and drate < 1e-6 and dlat < 1e-4 and dgain < 1e-4
    print(f"cc2  icip24 model vs CoolChicEncoder: x^ {dx:.2e}, rate (relative) {drate:.2e}, "
          f"latent gradients (relative) {dlat:.2e}, gain gradients (relative) {dgain:.2e}")
    if args.cc2_model:
        if not args.image:
            ap.error("--cc2-model needs --image")
        with tempfile.TemporaryDirectory() as tmp:
            state = f"{tmp}/state.pt"
            fork_state(args.cc2_fork + "/src", args.cc2_model, state)
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
            run = subprocess.run([args.python, __file__, "--code-state", state, "--image",
                                  args.image], capture_output=True, text=True, env=env)
        if run.returncode:
            print(run.stderr, file=sys.stderr)
            return 1
        print(f"cc2  {args.cc2_model}: {run.stdout.strip()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
