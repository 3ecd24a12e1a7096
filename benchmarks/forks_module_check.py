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
  cc2   the 2.0 fork's upsampling and our `learned-2d` with one random 8x8 kernel
Prints one line per check; exits 1 if a difference exceeds 1e-4 (relative 1e-6 for the rate).
"""

from __future__ import annotations

import argparse
import sys

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nif-fork", default="/work/forks/nif")
    ap.add_argument("--cc1-fork", default="/work/forks/cc-1.0-adaptations")
    ap.add_argument("--cc2-fork", default="/work/forks/cc-2.0-adaptations")
    args = ap.parse_args()
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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
