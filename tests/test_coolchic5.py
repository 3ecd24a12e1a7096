"""coolchic (Cool-chic 5-class): decoder sizes and their MAC per pixel, the 5.0 schedule, SOAP,
the fixed-point ARM + IFCE coder (bit-exact across thread counts, corrupt sections), weight
quantisation and RDOQ, real files, settings checks and time budgets."""

import math
import os
import subprocess
import sys
import time
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

import inrcodec
from conftest import (
    ROOT,
    assert_corrupt_sections_refused,
    assert_decodes_alike_with_three_threads,
    assert_truncations_refused,
    crop,
)
from inrcodec import fitting
from inrcodec.codecs.coolchic.five import CoolChic5
from inrcodec.codecs.coolchic.five.intcoder import (
    IntARM5,
    IntIFCE,
    IntModule,
    decode_grids,
    encode_grids,
)
from inrcodec.codecs.coolchic.five.layout import DECODERS, Layout, macs_per_pixel
from inrcodec.codecs.coolchic.five.model import CoolChic5Model, CoolChic5Settings
from inrcodec.codecs.coolchic.five.quant import Evaluator, quantize, rdoq_module, search_steps
from inrcodec.codecs.coolchic.five.train import (
    Phase,
    evaluation,
    plan,
    real_terms,
    run_phase,
    selection_score,
    soft_forward,
)
from inrcodec.compiling import wants_compile
from inrcodec.errors import ConfigError, DecodeError
from inrcodec.losses import parse_loss

TINY = dict(iterations=60, rdoq=True, lpips=False)

# Cool-chic 5.0.1's own counter (fvcore) per module, from the design note's table: (ARM, IFCE,
# upsampling, synthesis). Its synthesis includes a 3 -> 3 output transform (the identity for
# RGB, 9 MAC) that we do not run.
REFERENCE = {
    ("lop", 768, 512): (214.14, 5.72, 65.67, 141), ("lop", 384, 256): (214.14, 5.72, 67.34, 141),
    ("mop", 768, 512): (599.59, 11.44, 65.67, 352), ("mop", 384, 256): (599.59, 11.44, 67.34, 352),
    ("hop", 768, 512): (1177.77, 17.16, 65.67, 672),
    ("hop", 384, 256): (1177.77, 17.16, 67.34, 672),
    ("vhop", 768, 512): (1948.68, 17.16, 65.67, 832),
    ("vhop", 384, 256): (1948.68, 17.16, 67.34, 832),
}


@pytest.fixture(scope="module")
def cc5_file(sample):
    # 48 x 40: every level exists, the decoder renders in row strips (more than 32 + halo rows)
    return inrcodec.encode(crop(sample, 20, 70, 48, 40), codec="coolchic", preset="fast",
                           lmbda=2e-3, **TINY)


@pytest.mark.parametrize("key", sorted(REFERENCE))
def test_mac_per_pixel_matches_the_reference_counter(key):
    name, w, h = key
    macs = macs_per_pixel(DECODERS[name], Layout(h, w, True, DECODERS[name].features))
    arm, ifce, ups, syn = REFERENCE[key]
    assert macs["arm"] == pytest.approx(arm, abs=0.01)
    assert macs["ifce"] == pytest.approx(ifce, abs=0.01)
    assert macs["upsampling"] == pytest.approx(ups, abs=0.01)
    assert macs["synthesis"] == syn - 9
    nominal = {"lop": 500, "mop": 1000, "hop": 2000, "vhop": 3000}[name]
    assert 0.8 * nominal < macs["total"] < 1.05 * nominal


def test_layout_order_and_ifce_inputs():
    layout = Layout(256, 384, True, 6)
    names = [("Hy" if g.hyper else "L") + str(g.level) for g in layout.order]
    assert names == ["Hy6", "L6", "Hy5", "L5", "Hy4", "L4", "L3", "L2", "L1", "L0"]
    assert [layout.ifce_inputs(k) for k in (0, 1, 2)] == [9, 8, 7]
    assert layout.symbols == 131064 + 504
    assert Layout(256, 384, False, 0).ifce_levels == ()


def test_plan_follows_the_5_0_preset():
    def p(n, **kw):
        r = plan(CoolChic5Settings(iterations=n, **kw))
        return r.warmup, r.main, r.final, r.total

    assert p(2000) == (50, 1550, 100, 2000)
    assert p(5000) == (100, 4050, 250, 5000)
    assert p(10000) == (200, 8100, 500, 10000)  # 5.0's split at 10k
    assert p(12000) == (400, 8600, 600, 12000)
    assert p(1000) == (25, 775, 50, 1000)  # below 2000: warm-up scaled down
    assert p(2000, warmup=False, hard_final=False) == (0, 2000, 0, 2000)
    assert p(2000, final_share=0.25) == (50, 1150, 500, 2000)  # 5.0's own split at 2000
    s = CoolChic5Settings(lmbda=1e-3)
    assert s.sigma0() == pytest.approx(0.2043) and s.gain() == 16
    assert CoolChic5Settings(lmbda=4e-4).gain() == 20 and CoolChic5Settings(lmbda=1e-4).gain() == 24


@pytest.mark.parametrize("optimizer, bf16", [("soap", False), ("adam", False), ("soap", True)])
def test_training_lowers_the_real_objective(small, optimizer, bf16):
    s = CoolChic5Settings(optimizer=optimizer, lmbda=1e-3, bf16=bf16)
    target = small.data.unsqueeze(0)
    torch.manual_seed(0)
    model = CoolChic5Model(s, small.height, small.width, small.channels)
    loss = parse_loss("mse")
    before = evaluation(model, loss, target, s.lmbda, 255)()
    phase = Phase("main", 60, (1e-2, 1e-4), "softround", (0.35, 0.08), (0.22, 0.15))
    best = run_phase(model, loss, target, s, phase, 255)
    after = evaluation(model, loss, target, s.lmbda, 255)()
    assert after == pytest.approx(best) and after < 0.5 * before


def test_warmup_ranks_candidates_with_the_rate_weighted(small):
    # w = 1 is the real objective (5.0's ranking); w < 1 counts the rate for less, so of two
    # candidates the one with the lower distortion can win at a higher objective
    s = CoolChic5Settings(lmbda=2e-2)
    target, loss = small.data.unsqueeze(0), parse_loss("mse")
    torch.manual_seed(0)
    model = CoolChic5Model(s, small.height, small.width, small.channels)
    phase = Phase("warmup", 30, (1e-2, 1e-2), "softround", (0.35, 0.35), (0.2, 0.2))
    run_phase(model, loss, target, s, phase, 255)
    d, r = real_terms(model, loss, target, 255)
    assert r > 0 and d > 0
    five = replace(s, warmup_rate_weight=1.0)
    assert selection_score(model, loss, target, five, 255) == pytest.approx(
        evaluation(model, loss, target, s.lmbda, 255)())
    assert s.warmup_rate_weight == 0.5  # the default
    assert selection_score(model, loss, target, s, 255) == pytest.approx(d + 0.5 * s.lmbda * r)


def test_compiled_step_is_one_graph_and_lowers_the_objective(small, monkeypatch):
    """compile: the step is traced as one graph (fullgraph: a graph break would fail the
    compilation and fall back to eager with a warning) and trains as eager does. Traced by
    AOTAutograd without inductor's code generation, which would cost ~1 min here
    (benchmarks/results/coolchic_compile.md measures the real thing). Without bf16 the graph
    holds no autocast call: one (even a disabled autocast) makes AOTAutograd's on-disk cache
    refuse the graph, and every warm compilation would trace it again."""
    real, seen, graphs = torch.compile, [], []
    aot_eager = torch._dynamo.lookup_backend("aot_eager")

    def recorded(gm, inputs):
        graphs.append(gm)
        return aot_eager(gm, inputs)

    def traced(fn, **kw):
        seen.append(kw.pop("options"))
        assert kw.pop("fullgraph") and kw.pop("dynamic") is False and not kw
        return real(fn, backend=recorded, fullgraph=True, dynamic=False)

    monkeypatch.setattr(torch, "compile", traced)
    s = CoolChic5Settings(lmbda=1e-3)
    target = small.data.unsqueeze(0)
    loss = parse_loss("mse")
    phase = Phase("main", 40, (1e-2, 1e-4), "softround", (0.35, 0.08), (0.22, 0.15))
    torch.manual_seed(0)
    before = evaluation(CoolChic5Model(s, small.height, small.width, small.channels), loss,
                        target, s.lmbda, 255)()
    after = {}
    for comp in (False, True):
        # one forward for two models, as the warm-up's candidates share it: compiled once
        forward = soft_forward(s, "cpu", comp)
        torch.manual_seed(1)
        run_phase(CoolChic5Model(s, small.height, small.width, small.channels), loss, target, s,
                  replace(phase, steps=3), 255, forward=forward)
        torch.manual_seed(0)  # a fresh model, as an encode starts: nothing built lazily yet
        model = CoolChic5Model(s, small.height, small.width, small.channels)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run_phase(model, loss, target, s, phase, 255, forward=forward)
        assert not [w for w in caught if "torch.compile failed" in str(w.message)]
        after[comp] = evaluation(model, loss, target, s.lmbda, 255)()
        assert after[comp] < 0.6 * before
    assert len(seen) == 1 and after[True] == pytest.approx(after[False], rel=0.1)
    targets = [str(n.target) for g in graphs for n in g.graph.nodes]
    assert len(graphs) == 1 and not [t for t in targets if "autocast" in t]


def test_compile_is_automatic_only_for_long_encodes(cc5_file):
    from inrcodec.codecs.coolchic.five.train import COMPILE_MIN_PIXEL_STEPS

    assert cc5_file.log["compiled"] is False  # a 48 x 40 image: not worth a compilation
    assert not wants_compile(None, 384 * 256, 2000, COMPILE_MIN_PIXEL_STEPS)
    assert wants_compile(None, 768 * 512, 2000, COMPILE_MIN_PIXEL_STEPS)
    assert wants_compile(True, 48 * 40, 10, COMPILE_MIN_PIXEL_STEPS)


def test_soap_updates_the_networks_in_the_eigenbasis():
    from pytorch_optimizer import SOAP

    from inrcodec.codecs.coolchic.five.optim import PairOptimizer, network_optimizer

    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(4, 3))
    lat = torch.nn.Parameter(torch.zeros(5))
    opt = PairOptimizer(network_optimizer([w], "soap", 1e-2, 0.01, 10),
                        torch.optim.Adam([lat], lr=1e-2), clip=0.1)
    assert isinstance(opt.nets, SOAP) and len(opt.param_groups) == 2
    w.grad, lat.grad = torch.full_like(w, 100.0), torch.full_like(lat, 100.0)
    before = w.detach().clone()
    opt.step()  # SOAP's first step only builds the preconditioner
    assert torch.equal(w, before) and torch.allclose(lat, torch.full_like(lat, -1e-2))
    assert float(torch.linalg.vector_norm(w.grad)) == pytest.approx(0.1, rel=1e-4)  # clipped
    assert float(lat.grad.abs().max()) == 100.0  # the latents never are


def test_roundtrip_through_real_file(cc5_file, tmp_path):
    path = tmp_path / "x.inr"
    path.write_bytes(bytes(cc5_file))
    img = inrcodec.decode(path.read_bytes())
    assert torch.equal(img.data, cc5_file.reconstruction.quantized().data)
    info = inrcodec.api.info(path.read_bytes())
    assert info["codec"] == "coolchic" and set(info["sections"]) == {"h", "w", "l"}
    assert info["decoder"] == "lop" and 300 < info["macs_per_pixel"] < 600
    assert info["config"] == {} and info["sections"]["h"] == 13  # the model is one byte there
    assert cc5_file.log["plan"] == {"warmup": 2, "main": 43, "final": 3}
    runs = cc5_file.log["runs"]  # [steps run, seconds]: 5 + 2 warm-up stages, main, final
    assert [len(runs[k]) for k in ("warmup", "main", "final")] == [7, 1, 1]
    assert [r[0] for r in runs["warmup"] + runs["main"] + runs["final"]] == [2] * 7 + [43, 3]
    scores = cc5_file.log["warmup_scores"]  # the two finalists, the winner first
    assert len(scores) == 2 and scores[0][0] == cc5_file.log["warmup_winner"]
    assert scores[0][1] <= scores[1][1]
    assert cc5_file.metrics["psnr"] > 15
    # the ARM's estimate and the real range coder agree (the integer ARM + IFCE track the
    # float ones the encoder optimised)
    est, real = cc5_file.log["estimated_latent_bytes"], cc5_file.log["section_bytes"]["l"] - 6
    assert abs(real - est) < 0.1 * est + 16


def test_cli_info_prints_the_mac_per_pixel(cc5_file, tmp_path):
    from typer.testing import CliRunner

    from inrcodec.cli.main import app

    path = tmp_path / "x.inr"
    path.write_bytes(bytes(cc5_file))
    out = CliRunner().invoke(app, ["info", str(path)])
    assert out.exit_code == 0 and "decoder  lop, " in out.output and "MAC per pixel" in out.output


def test_bit_exact_decode_with_other_thread_count(cc5_file, tmp_path):
    assert_decodes_alike_with_three_threads(bytes(cc5_file), tmp_path)


def _random_modules(rng, layout, spatial, hidden):
    c = spatial + layout.features
    arm = IntModule([rng.integers(-60, 60, (c, c)) for _ in range(hidden)] +
                    [rng.integers(-60, 60, (2, c)), rng.integers(-60, 60, (2, c))],
                    [rng.integers(-200, 200, c) for _ in range(hidden)] +
                    [np.array([0, 700]), rng.integers(-200, 200, 2)], 8, 10)
    ifce = IntModule([rng.integers(-90, 90, (layout.features, layout.ifce_inputs(k)))
                      for k in layout.ifce_levels],
                     [rng.integers(-90, 90, layout.features) for _ in layout.ifce_levels], 6, 6)
    return IntARM5(arm, hidden, True, spatial), (IntIFCE(ifce) if layout.features else None)


def _reference_arm(m: IntModule, hidden: int, stabiliser: bool, x: np.ndarray):
    """The fixed-point ARM as intcoder's docstring states it, in int64 arithmetic."""
    from inrcodec.codecs.coolchic.arm_int import ACT_BITS, LN_MIN_FP, LN_STEP_FP

    def bias(n):
        shift = ACT_BITS + m.kw - int(m.kb)
        b = m.biases[n].astype(np.int64)
        return b << shift if shift >= 0 else b >> -shift

    h = x
    for n in range(hidden):
        acc = ((h @ m.weights[n].T + bias(n)) >> m.kw) + h
        h = np.clip(acc, 0, 1 << 24)
    out = h @ m.weights[hidden].T + bias(hidden)
    if stabiliser:
        out = out + x @ m.weights[hidden + 1].T + bias(hidden + 1)
    out = out >> m.kw
    mu = np.clip((out[:, 0] + 8) >> 4, -127 * 16, 127 * 16)
    ln_b = out[:, 1] - (4 << ACT_BITS)
    sidx = np.clip((ln_b - LN_MIN_FP + LN_STEP_FP // 2) // LN_STEP_FP, 0, 63)
    return mu, sidx


@pytest.mark.parametrize("seed", range(6))
def test_fixed_point_arm_matches_its_integer_statement(seed):
    """IntARM5 folds steps, biases and the output snapping into float64 matrices: on extreme
    integers (weights up to the quantiser's bound, contexts and features at their bounds,
    hidden values driven into both clips) it gives the int64 statement's (mu, scale) exactly."""
    from inrcodec.codecs.coolchic.arm_int import LN_STEP_FP, MAX_ALPHABET
    from inrcodec.codecs.coolchic.five.entropy import IFCE_CLIP
    from inrcodec.codecs.coolchic.five.quant import MAX_INT

    assert LN_STEP_FP & (LN_STEP_FP - 1) == 0  # the fold divides by it exactly
    rng = np.random.default_rng(seed)
    name = list(DECODERS)[seed % len(DECODERS)]
    d = DECODERS[name]
    if seed >= 4:  # every decoder has two hidden layers; the coder takes any number
        d = replace(d, hidden=seed - 4)
    c = d.spatial + d.features
    big = (60, 600, MAX_INT)[seed % 3]
    kw, kb = 8, int(rng.integers(0, 17))
    # hidden layers up to the bound; the output layers small enough that mu and the scale
    # index are not all clipped
    m = IntModule([rng.integers(-big, big + 1, (c, c)) for _ in range(d.hidden)]
                  + [rng.integers(-1, 2, (2, c)) for _ in range(2)],
                  [rng.integers(-big, big + 1, c) for _ in range(d.hidden)]
                  + [rng.integers(-64, 65, 2) for _ in range(2)], kw, kb)
    n = 20000
    # rows of every magnitude, from 0 to the bounds (the statement shifts latents by ACT_BITS)
    reach = np.round(2.0 ** rng.uniform(-1, np.log2(127 + 2 * MAX_ALPHABET), (n, 1)))
    ctx = np.round(rng.uniform(-1, 1, (n, d.spatial)) * reach).astype(np.int64)
    lim = np.round(2.0 ** rng.uniform(0, np.log2(IFCE_CLIP) + 8, (n, 1)))
    feat = np.round(rng.uniform(-1, 1, (n, d.features)) * lim).astype(np.int64)
    for stab in (True, False):
        arm = IntARM5(m, d.hidden, stab, d.spatial)
        mu, sidx = arm(ctx.T.astype(np.float64), arm.prepare(feat.T.astype(np.float64), n))
        ref_mu, ref_s = _reference_arm(m, d.hidden, stab, np.concatenate([ctx << 8, feat], 1))
        assert np.array_equal(mu, ref_mu) and np.array_equal(sidx, ref_s)
        # enough rows inside the clips that the rounding of both outputs is compared (weights
        # at the quantiser's bound saturate nearly everything: that seed checks exactness)
        for v, top in ((ref_mu, 127 * 16), (ref_s, 63)):
            assert big == MAX_INT or ((v > -top * (top != 63)) & (v < top)).sum() >= 200


@pytest.mark.parametrize("name, hyper", [("lop", True), ("hop", True), ("mop", False)])
def test_integer_coder_roundtrip(name, hyper):
    d = DECODERS[name]
    rng = np.random.default_rng(len(name))
    layout = Layout(37, 53, hyper, d.features if hyper else 0)
    arm, ifce = _random_modules(rng, layout, d.spatial, d.hidden)
    values = {g: np.clip(np.round(rng.laplace(0, 2, g.shape)), -127, 127).astype(np.int64)
              for g in layout.order}
    data = encode_grids(layout, values, arm, ifce, d.spatial)
    out = decode_grids(data, layout, arm, ifce, d.spatial)
    assert all(np.array_equal(values[g], out[g]) for g in layout.order)
    with pytest.raises(DecodeError):
        decode_grids(data[:-4], layout, arm, ifce, d.spatial)


@pytest.mark.parametrize("chunk", [1, 37, 500])
def test_integer_coder_roundtrip_across_wave_blocks(monkeypatch, chunk):
    """The decoder prepares its waves in blocks of about _CHUNK positions (and the encoder
    evaluates the ARM in chunks): block edges anywhere in a round change nothing."""
    from inrcodec.codecs.coolchic.five import intcoder

    d = DECODERS["mop"]
    rng = np.random.default_rng(chunk)
    layout = Layout(29, 45, True, d.features)
    arm, ifce = _random_modules(rng, layout, d.spatial, d.hidden)
    values = {g: np.clip(np.round(rng.laplace(0, 2, g.shape)), -127, 127).astype(np.int64)
              for g in layout.order}
    whole = encode_grids(layout, values, arm, ifce, d.spatial)
    monkeypatch.setattr(intcoder, "_CHUNK", chunk)
    assert encode_grids(layout, values, arm, ifce, d.spatial) == whole
    out = decode_grids(whole, layout, arm, ifce, d.spatial)
    assert all(np.array_equal(values[g], out[g]) for g in layout.order)


@pytest.mark.parametrize("name", list(DECODERS))
@pytest.mark.parametrize("h, w", [(16, 16), (40, 1), (1, 40)])
def test_integer_coder_roundtrip_with_empty_waves(name, h, w):
    """Grids narrower than the wave factor K (K = 2 for lop, 4 for vhop) leave waves without
    a position: the decoder skips them (found by benchmarks/decode_limits.py, whose 16x16 hop
    file did not decode)."""
    d = DECODERS[name]
    rng = np.random.default_rng(h + w)
    layout = Layout(h, w, True, d.features)
    arm, ifce = _random_modules(rng, layout, d.spatial, d.hidden)
    values = {g: rng.integers(-3, 4, g.shape) for g in layout.order}
    out = decode_grids(encode_grids(layout, values, arm, ifce, d.spatial), layout, arm, ifce,
                       d.spatial)
    assert all(np.array_equal(values[g], out[g]) for g in layout.order)


def test_float_and_integer_ifce_agree():
    """The integer IFCE on quantised weights gives the float IFCE's features (1/256)."""
    s = CoolChic5Settings(decoder="hop")
    torch.manual_seed(0)
    model = CoolChic5Model(s, 40, 56, 3)
    with torch.no_grad():
        for p in model.params:
            p.copy_(torch.randn_like(p) * 0.3)
        for m in model.ifce.maps:
            m.weight.copy_(torch.round(m.weight * 64) / 64)
            m.bias.copy_(torch.round(torch.randn_like(m.bias) * 64) / 64)
        qz = model.rounded()
        feats = model.features(qz)
    ints = IntIFCE(IntModule([torch.round(m.weight * 64).long().numpy() for m in model.ifce.maps],
                             [torch.round(m.bias * 64).long().numpy() for m in model.ifce.maps],
                             6, 6))
    from inrcodec.codecs.coolchic.five.intcoder import Geometry, _features

    layout = model.layout
    values = {g: v.long().numpy() for g, v in model.grid_values(qz).items()}
    for k in layout.ifce_levels:
        g = layout.latents[k]
        geo = Geometry([g], s.dec.spatial)
        f = _features(layout, ints, values, [g], layout.features, geo)[:, np.argsort(geo.order)]
        assert np.abs(f / 256.0 - feats[k].numpy()).max() <= 1 / 256 + 1e-6


def test_truncated_files_fail_cleanly(cc5_file):
    assert_truncations_refused(bytes(cc5_file), 40)


def test_corrupt_sections_raise_decode_error(cc5_file):
    codec = CoolChic5()
    _, c = assert_corrupt_sections_refused(codec, bytes(cc5_file), 10, 20)
    for bad in ({**c.config, "decoder": "xl"}, {**c.config, "ifce": 1}, {"decoder": "lop"}):
        with pytest.raises(DecodeError):
            codec.settings_from_config(bad)


def _trained(small, steps=40):
    s = CoolChic5Settings(lmbda=1e-3)
    torch.manual_seed(0)
    model = CoolChic5Model(s, small.height, small.width, small.channels)
    phase = Phase("main", steps, (1e-2, 1e-3), "softround", (0.35, 0.08), (0.22, 0.15))
    run_phase(model, parse_loss("mse"), small.data.unsqueeze(0), s, phase, 255)
    return s, model


def test_rd_refinement_never_raises_the_cost(small):
    s, model = _trained(small)
    target = small.data.unsqueeze(0)
    with torch.no_grad():
        ev = Evaluator(model, parse_loss("mse"), target, s.lmbda, 255)
        for name in ("arm", "ifce", "upsampling", "synthesis"):
            k, searched = search_steps(ev, name, fixed=False)
            assert ev.cost(name, k) == searched
            moves = rdoq_module(ev, name, k, torch.Generator().manual_seed(0))
            after = ev.cost(name, k)
            assert after <= searched, name
            ev.refresh(name)  # the cached parts are the model's: recomputing changes nothing
            assert ev.cost(name, k) == after
            assert moves >= 0
    s2, model2 = _trained(small)
    q = quantize(model2, parse_loss("mse"), target, s2)
    assert q.rdoq_cost <= q.cost and q.moves > 0 and q.rdoq_ran
    assert 0 < q.weight_share < 1
    for name, (kw, kb) in q.steps.items():  # the weights sit on their grids
        from inrcodec.codecs.coolchic.five.model import module_tensors

        ws, bs = module_tensors(model2, name)
        for t, k in [(t, kw) for t in ws] + [(t, kb) for t in bs]:
            assert torch.equal(t * 2.0 ** k, torch.round(t * 2.0 ** k)), name


def test_rdoq_runs_only_where_the_weights_share_of_the_rate_is_large_enough(small):
    target = small.data.unsqueeze(0)
    runs = {}
    for least in (0.0, 0.999):
        s, model = _trained(small, steps=20)
        q = quantize(model, parse_loss("mse"), target, replace(s, rdoq_min_share=least))
        runs[least] = q
    assert runs[0.0].rdoq_ran and runs[0.0].moves > 0
    skipped = runs[0.999]
    assert not skipped.rdoq_ran and skipped.moves == 0 and skipped.rdoq_cost == skipped.cost
    assert skipped.weight_share == runs[0.0].weight_share < 0.999  # same model, same steps


def test_rdoq_restores_cached_costs_exactly_as_a_refresh_would(small, monkeypatch):
    """RDOQ puts back the cost parts it measured at the best value instead of computing them
    again: the same moves, integers and costs as recomputing after every integer."""
    target = small.data.unsqueeze(0)
    results = []
    for recompute in (False, True):
        if recompute:
            def restore(self, state, refresh=Evaluator.refresh):
                for name in ("ifce", "upsampling"):  # every cached part, from the model
                    refresh(self, name)

            monkeypatch.setattr(Evaluator, "restore", restore)
        s, model = _trained(small, steps=20)
        q = quantize(model, parse_loss("mse"), target, s)
        results.append((q.moves, q.rdoq_cost, [t.clone() for t in model.network_parameters()]))
    (m0, c0, p0), (m1, c1, p1) = results
    assert m0 == m1 > 0 and c0 == c1
    assert all(torch.equal(a, b) for a, b in zip(p0, p1, strict=True))


def test_step_search_out_of_time_keeps_the_usual_steps(small):
    # a budget encode that reaches the search late must not keep the first step it tried
    # (kw = 0 quantises every weight to an integer: 15 dB files under --budget 60)
    from inrcodec.codecs.coolchic.five.quant import FIXED_K

    s, model = _trained(small, steps=20)
    with torch.no_grad(), fitting.time_limit(None, None, time.perf_counter() - 1.0):
        ev = Evaluator(model, parse_loss("mse"), small.data.unsqueeze(0), s.lmbda, 255)
        for name in ("arm", "ifce", "upsampling", "synthesis"):
            k, cost = search_steps(ev, name, fixed=False)
            assert k == FIXED_K[name] and math.isfinite(cost), name


def test_rdoq_is_reserved_for_only_where_it_is_a_small_share_of_the_budget():
    from inrcodec.codecs.coolchic.five.codec import RDOQ_MAX_BUDGET_SHARE, coding_estimate

    on = CoolChic5.make_settings("default")
    off = CoolChic5.make_settings("default", rdoq=False)
    px, params, per = 768 * 512, 1000, 0.025  # full-size Kodak, mop: RDOQ ~58 s
    base = coding_estimate(off, per, params, px)
    rdoq = coding_estimate(on, per, params, px) - base  # no budget: RDOQ counted
    assert rdoq == pytest.approx(2.3 * params * per)
    assert coding_estimate(on, per, params, px, budget=rdoq / RDOQ_MAX_BUDGET_SHARE * 1.01) \
        == pytest.approx(base + rdoq)  # within the share: reserved
    assert coding_estimate(on, per, params, px, budget=600.0) == pytest.approx(base)
    # the same settings on an image 16 times smaller: each evaluation ~16x cheaper, reserved
    assert coding_estimate(on, per / 16, params, px // 16, budget=600.0) > \
        coding_estimate(off, per / 16, params, px // 16, budget=600.0)


def test_rdoq_leaves_the_coding_tail_before_the_encodes_end(small):
    # unreserved, RDOQ runs in the time left: it must stop `tail` seconds before the end
    s, model = _trained(small, steps=20)
    target = small.data.unsqueeze(0)
    with fitting.time_limit(None, None, time.perf_counter() + 3600):
        q = quantize(model, parse_loss("mse"), target, s, tail=3600.0)
    assert q.rdoq_ran and q.moves == 0  # no time left after the tail: no move tried
    s, model = _trained(small, steps=20)
    with fitting.time_limit(None, None, time.perf_counter() + 3600):
        assert quantize(model, parse_loss("mse"), target, s, tail=0.0).moves > 0


@pytest.mark.parametrize("bad, match", [
    ({"decoder": "xl"}, "decoder"), ({"iterations": 0}, "iterations"),
    ({"iterations": 2.5}, "iterations"), ({"optimizer": "sgd"}, "optimizer"),
    ({"temperature": (0.3,)}, "temperature"), ({"noise": (0.2, 3)}, "noise"),
    ({"ifce": "yes"}, "ifce"), ({"lmbda": -1}, "lmbda"), ({"lr": 0}, "learning"),
    ({"grad_clip": float("nan")}, "grad_clip"), ({"eval_every": 0}, "eval_every"),
    ({"rdoq_min_share": 1.5}, "rdoq_min_share"), ({"rdoq_min_share": "x"}, "rdoq_min_share"),
    ({"patience": -1}, "patience"), ({"ste_steps": 10}, "no setting"),
    ({"final_share": 0.9}, "final_share"), ({"compile": "yes"}, "compile"),
    ({"warmup_rate_weight": 1.5}, "warmup_rate_weight"),
])
def test_settings_are_validated(bad, match):
    with pytest.raises(ConfigError, match=match):
        CoolChic5.make_settings("fast", **bad)


def test_presets_and_defaults():
    assert set(CoolChic5.presets) == {"fast", "default", "slow"}
    fast = CoolChic5.make_settings("fast")
    assert fast.decoder == "lop" and fast.optimizer == "soap" and fast.grad_clip == 0.1
    assert fast.rdoq and fast.rdoq_min_share == 0.15  # RDOQ where the weights weigh
    default = CoolChic5.make_settings("default")
    assert default.rdoq and default.rdoq_min_share == 0.0 and default.decoder == "mop"
    slow = CoolChic5.make_settings("slow")
    assert slow.iterations == 10000 and slow.decoder == "mop" and slow.optimizer == "adam"


def test_time_budget_hooks(small):
    from inrcodec.budget import plan as budget_plan

    codec = CoolChic5()
    s = CoolChic5.make_settings("fast", iterations=300)
    assert CoolChic5.planned_steps(s) == 300
    p = budget_plan(codec, small, s, 600.0, torch.device("cpu"))
    assert p.step_seconds > 0 and 0 < p.coding_seconds < 600 and p.share > 0
    with pytest.raises(ConfigError, match="too short"):
        inrcodec.encode(small, codec="coolchic", budget=0.01, lpips=False)


def test_budget_encode_stops_in_time(small):
    import time

    t0 = time.perf_counter()
    r = inrcodec.encode(small, codec="coolchic", budget=25.0, lpips=False, iterations=100000)
    assert time.perf_counter() - t0 < 25 * 1.5 + 5 and math.isfinite(r.metrics["psnr"])
    assert "budget" in r.log


def test_encode_is_repeatable_with_two_threads():
    # two threads accumulate some backward passes in a racy order unless torch's deterministic
    # kernels are on (api.encode turns them on): the same seed must give the same file
    code = ("import hashlib, torch, inrcodec; from inrcodec.cli.demo import sample_path; "
            "torch.set_num_threads(2); "
            "r = inrcodec.encode(inrcodec.api.as_image(sample_path()), iterations=100, "
            "lpips=False); print(hashlib.sha256(bytes(r)).hexdigest())")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    runs = {subprocess.run([sys.executable, "-c", code], env=env, check=True,
                           capture_output=True, text=True, timeout=300).stdout.strip()
            for _ in range(2)}
    assert len(runs) == 1


def test_one_compiled_graph_serves_every_lambda(small):
    """The encoder gain (16, 20 or 24 by lambda) is a tensor: compiling the training step
    for a second lambda class reuses the first graph instead of compiling another (a cold
    compilation of a full-size step costs minutes of an encode's clock)."""
    from torch._dynamo.testing import CompileCounter

    from inrcodec.codecs.coolchic.five.train import soft_forward

    torch._dynamo.reset()
    counter = CompileCounter()
    fwd = soft_forward(CoolChic5Settings(), "cpu", False)
    step = torch.compile(fwd, backend=counter, dynamic=False, fullgraph=True)
    temp, noise = torch.tensor(0.3), torch.tensor(0.2)
    for lmbda in (4e-3, 1e-4):  # gains 16 and 24
        s = CoolChic5Settings(lmbda=lmbda)
        model = CoolChic5Model(s, small.height, small.width, small.channels)
        _ = model.gather
        step(model, "softround", temp, noise)
    assert counter.frame_count == 1
