"""The ICIP 2024 study's reference recipes (issue 17, fidelity): NIF's fork schedule, Cool-chic
1.0/2.0's icip24 presets, the forks' loss definitions. Each test fails if its item is undone."""

from __future__ import annotations

import math

import pytest
import torch

import inrcodec
from inrcodec.codecs.coolchic.arm import ARM
from inrcodec.codecs.coolchic.configs import CoolChicV1, CoolChicV2
from inrcodec.codecs.coolchic.model import CoolChicModel
from inrcodec.codecs.coolchic.recipes import (
    CC2_PHASES,
    CC2_STEPS,
    cc2_phase_steps,
    forward,
    quantise_latent,
)
from inrcodec.codecs.coolchic.upsampling import Upsampling
from inrcodec.codecs.inr import nif_fork
from inrcodec.codecs.inr.nif import NIFCodec, fork_restart, restart
from inrcodec.fitting import FitLog, train
from inrcodec.image import Image
from inrcodec.losses import LOSSES, parse_loss, value_scale

TINY_NIF = dict(hidden=(16, 8), mod_hidden=(8,), freqs=4, lpips=False)


@pytest.fixture()
def img16() -> Image:
    g = torch.Generator().manual_seed(3)
    return Image(torch.rand(3, 16, 16, generator=g))


# -- losses -------------------------------------------------------------------------------------
def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    t = torch.rand(1, 3, 16, 16, generator=g)
    return (t + 0.1 * torch.randn(1, 3, 16, 16, generator=g)).clamp(0, 1), t


def test_cool_chic_forks_average_the_terms_of_a_composite():
    p, t = _pair()
    lc, ss, l1 = (float(LOSSES[n](p, t)) for n in ("logcosh", "ssim", "l1"))
    assert float(LOSSES["cc_lcssim"](p, t)) == pytest.approx((lc + 0.01 * ss) / 2, rel=1e-6)
    assert float(LOSSES["cc_l1ssim"](p, t)) == pytest.approx((0.8 * l1 + 0.2 * ss) / 2, rel=1e-6)
    # ours sum: lcssim is the NIF fork's logcosh_ssim, l1ssim the 0.8/0.2 sum
    assert float(LOSSES["lcssim"](p, t)) == pytest.approx(lc + 0.01 * ss, rel=1e-6)
    assert float(LOSSES["nif_l1ssim"](p, t)) == pytest.approx(l1 + 0.01 * ss, rel=1e-6)
    assert str(parse_loss("cc_lcssim")) == "cc_lcssim"


def test_value_scale_is_the_loss_on_images_mapped_to_plus_minus_one():
    t = torch.full((1, 3, 16, 16), 0.4)
    p = t + 0.1
    with value_scale(2.0):
        assert float(LOSSES["mse"](p, t)) == pytest.approx(0.04, rel=1e-5)
        assert float(LOSSES["l1"](p, t)) == pytest.approx(0.2, rel=1e-5)
        assert float(LOSSES["rmse"](p, t)) == pytest.approx(0.2, rel=1e-5)
        assert float(LOSSES["logcosh"](p, t)) == pytest.approx(math.log(math.cosh(0.2)),
                                                                rel=1e-5)
        ssim_scaled = float(LOSSES["ssim"](p, t))
    # on [0, 1] logcosh is about 4x smaller; SSIM does not change
    assert float(LOSSES["logcosh"](p, t)) == pytest.approx(math.log(math.cosh(0.1)), rel=1e-5)
    assert ssim_scaled == float(LOSSES["ssim"](p, t))


# -- NIF, the fork's recipe ---------------------------------------------------------------------
def test_fork_steps_once_per_sub_image_with_one_adamw_per_phase(img16, monkeypatch):
    made = []

    class Spy(torch.optim.AdamW):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)

    monkeypatch.setattr(nif_fork.torch.optim, "AdamW", Spy)
    r = inrcodec.encode(img16, codec="nif", preset="fork-120", steps=6, rounds=2, qat_steps=2,
                        qat_rounds=2, **TINY_NIF)
    assert len(made) == 2  # one for the fit, one for QAT, surviving the restarts
    fit, qat = made
    steps = {int(st["step"]) for st in fit.state.values()}
    assert steps == {6 * 4}  # 6 iterations x 4 sub-images, across both rounds
    assert {int(st["step"]) for st in qat.state.values()} == {2 * 4}
    assert fit.param_groups[0]["weight_decay"] == 1e-4
    assert qat.param_groups[0]["weight_decay"] == 0.01
    assert r.log["fit_steps"] == 24 and r.settings["signed"] is True


def test_fork_peak_learning_rate_decays_per_round():
    assert nif_fork.fork_lr(0, 150, 20, 1e-3, 6e-4, 1.0) == pytest.approx(6e-4)
    assert nif_fork.fork_lr(19, 150, 20, 1e-3, 6e-4, 0.99 ** 3) == pytest.approx(0.99 ** 3 * 1e-3)
    assert nif_fork.fork_lr(75, 150, 20, 1e-3, 6e-4, 1.0) == pytest.approx(6e-4 + 4e-4 * 0.5)


def test_fork_restart_leaves_both_heads_alone():
    codec = NIFCodec()
    net = codec.build(codec.make_settings("fork-120"), 3)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    fork_restart(net, 0.5, False, torch.Generator().manual_seed(0))
    changed = {n for n, p in net.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"body.0.weight", "body.1.weight", "body.2.weight", "tail.weight",
                       "modulator.layers.1.weight", "modulator.tail.weight"}
    restart(net, 0.5, False, torch.Generator().manual_seed(0))  # today's: only the genesis head
    assert not torch.equal(net.modulator.layers[0].weight, before["modulator.layers.0.weight"])


@pytest.mark.parametrize("qat", [False, True])
def test_qat_reloads_the_best_before_perturbing_after_a_worse_round(img16, monkeypatch, qat):
    codec = NIFCodec()
    s = codec.make_settings("fork-120", **{k: v for k, v in TINY_NIF.items() if k != "lpips"},
                            steps=3, rounds=3, qat_steps=3, qat_rounds=3)
    net = codec.build(s, 3)
    scores, calls, seen = [1.0, 2.0, 0.5], [], []

    def fake_train(module, *a, **k):
        r = len(calls)
        calls.append(r)
        with torch.no_grad():
            for p in module.parameters():
                p.fill_(float(r))
        state = {n: v.clone() for n, v in module.state_dict().items()}
        return FitLog(1, scores[r], scores[r], 0.0, state)

    monkeypatch.setattr(nif_fork, "train", fake_train)
    nif_fork.fork_phase(net, img16.data[None], parse_loss("mse"), s, qat, None, 0, False,
                        lambda n, t, q, g: seen.append(float(n.tail.bias[0].detach())))
    # after round 1 (worse than round 0) QAT perturbs round 0's state, the fit round 1's
    assert seen == ([0.0, 0.0] if qat else [0.0, 1.0])
    assert float(net.tail.bias[0].detach()) == 2.0  # the best of all rounds at the end


def test_signed_output_is_stored_only_when_set(img16):
    codec = NIFCodec()
    a = codec.build(codec.make_settings("120"), 3)
    b = codec.build(codec.make_settings("fork-120"), 3)
    b.load_state_dict(a.state_dict())
    x = a.point_inputs(4, 4)
    assert torch.allclose(b.points(*x) - 0.5, 0.5 * (a.points(*x) - 0.5))
    r = inrcodec.encode(img16, codec="nif", preset="fork-120", steps=4, rounds=1, qat_steps=0,
                        **TINY_NIF)
    assert inrcodec.info(bytes(r))["config"]["signed"] is True
    assert torch.equal(inrcodec.decode(bytes(r)).data, r.reconstruction.quantized().data)
    r0 = inrcodec.encode(img16, codec="nif", steps=4, rounds=1, qat_steps=0, **TINY_NIF)
    assert "signed" not in inrcodec.info(bytes(r0))["config"]


# -- the keep-best loop's new scores ------------------------------------------------------------
def test_train_scores_windows_by_score_and_states_by_validation():
    w = torch.nn.Parameter(torch.tensor([4.0]))
    m = torch.nn.Module()
    m.w = w
    marks = [5.0, 1.0, 3.0, 4.0, 9.0, 9.0]
    log = train(m, lambda step: ((m.w ** 2).sum(), None), torch.optim.SGD([w], lr=0.1), 6,
                window=2, score=lambda step, pred: marks[step], return_best=True)
    assert log.best_loss == 3.0  # mean of the first window (5, 1)
    values, w.data = [], torch.tensor([4.0])

    def validate() -> float:
        values.append(float(m.w.detach()))
        return abs(float(m.w.detach()) - 3.0)

    log = train(m, lambda step: ((m.w ** 2).sum(), None), torch.optim.SGD([w], lr=0.1), 5,
                validate=validate, validate_every=2)
    assert len(values) == 3  # after updates 2, 4 and the last
    assert float(m.w.detach()) == pytest.approx(min(values, key=lambda v: abs(v - 3.0)))


# -- Cool-chic icip24 ---------------------------------------------------------------------------
def test_shared_2d_upsampling_starts_as_the_separable_bicubic():
    g = torch.Generator().manual_seed(1)
    lat = [torch.randn(1, 1, 32 >> n, 24 >> n, generator=g) for n in range(4)]
    ref = Upsampling(4, learned=False)(lat)
    two_d = Upsampling(4, learned=True, shared_2d=True)
    assert two_d.coded().shape == (8, 8)
    assert torch.allclose(two_d(lat), ref, atol=1e-5)


def test_icip24_models_have_learned_gains_residual_layers_and_fork_init():
    s1 = CoolChicV1.make_settings("icip24")
    m1 = CoolChicModel(s1, 64, 64, 3)
    assert torch.equal(m1.latents.log2_gains.detach(), torch.arange(7.0))
    with torch.no_grad():
        for grid in m1.latents.grids:
            grid.fill_(1.0)
    assert [float(v.flatten()[0]) for v in m1.latents.values()] == [2.0 ** i for i in range(7)]
    assert m1.arm.residual == [True, True, False]
    assert all(float(la.weight.abs().max()) == 0 for la in m1.arm.layers[:2])
    first = m1.synthesis.convs[0].weight  # 7 -> 12: N(0, 1) / 144
    assert 0.3 / 144 < float(first.std()) < 3 / 144
    assert float(m1.synthesis.convs[1].weight.abs().max()) == 0  # the residual 12 -> 12
    s2 = CoolChicV2.make_settings("icip24")
    assert s2.upsampling == "learned-2d" and s2.synthesis.split(",")[1] == "X-1-linear-relu"
    assert CoolChicV2.planned_steps(s2) == 2800 + 6300
    assert cc2_phase_steps(CC2_STEPS) == [p[1] for p in CC2_PHASES]


def test_fork_rate_model_folds_into_the_coded_one():
    s = CoolChicV1.make_settings("icip24")
    m = CoolChicModel(s, 32, 32, 3)
    with torch.no_grad():
        m.arm.layers[-1].weight.normal_(0, 0.05)
        m.arm.layers[-1].bias.copy_(torch.tensor([0.1, 1.0]))
    lat = [torch.round(torch.randn_like(y) * 2) for y in m.latents.values()]
    fork_bits = float(m.bits(lat))
    m.fold_log_scale()
    assert float(m.bits(lat)) == pytest.approx(fork_bits, rel=1e-5)
    assert not m.fork_scale


def test_icip24_training_clamps_and_scales_the_latent_gradients():
    s2 = CoolChicV2.make_settings("icip24")
    m = CoolChicModel(s2, 16, 16, 3)
    with torch.no_grad():
        m.synthesis.convs[-1].bias.fill_(3.0)
    img, _ = forward(m, s2, "noise")
    assert float(img.max()) <= 1.0 and float(img.min()) >= 0.0
    y = torch.zeros(5, requires_grad=True)
    quantise_latent(y, "noise", 100.0).sum().backward()
    assert torch.equal(y.grad, torch.full((5,), 100.0))


@pytest.mark.parametrize("codec", ["coolchic-v1", "coolchic-v2"])
def test_icip24_round_trips_with_the_residual_arm_in_the_header(img16, codec):
    r = inrcodec.encode(img16, codec=codec, preset="icip24", steps=30, warmup_steps=10,
                        warmup_candidates=2, lpips=False)
    assert inrcodec.info(bytes(r))["config"]["arm_residual"] is True
    assert torch.equal(inrcodec.decode(bytes(r)).data, r.reconstruction.quantized().data)
    r0 = inrcodec.encode(img16, codec=codec, preset="fast", steps=5, ste_steps=0,
                         warmup_candidates=1, lpips=False)
    assert "arm_residual" not in inrcodec.info(bytes(r0))["config"]


def test_residual_arm_adds_its_input():
    arm = ARM(4, (4, 4), residual=True)
    assert arm.residual == [True, True, False]
    assert ARM(4, (4, 3), residual=True).residual == [True, False, False]
    with torch.no_grad():
        for la in arm.layers:
            la.weight.zero_()
            la.bias.zero_()
        arm.layers[-1].weight[0, 0] = 1.0
    grid = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    mu, _, _ = arm([grid])
    ctx, _ = arm.contexts([grid])  # zero residual layers pass their input through
    assert torch.equal(mu, torch.relu(ctx[0]))


def test_fork_plans_a_step_per_sub_image_for_time_budgets():
    assert NIFCodec.planned_steps(NIFCodec.make_settings("fork-120")) == (1500 + 200) * 4
    assert NIFCodec.planned_steps(NIFCodec.make_settings("120")) == 1500 + 200


def test_integer_arm_follows_the_float_residual_arm():
    import numpy as np

    from inrcodec.codecs.coolchic.arm_int import ACT_BITS, IntARM, IntLayer

    g = torch.Generator().manual_seed(5)
    arm = ARM(12, (12, 12), residual=True)
    k = 8
    layers = []
    with torch.no_grad():
        for la, res in zip(arm.layers, arm.residual, strict=True):
            w = torch.round(torch.randn(la.weight.shape, generator=g) * 0.3 * 2 ** k)
            b = torch.round(torch.randn(la.bias.shape, generator=g) * 0.3 * 2 ** k)
            la.weight.copy_(w / 2 ** k)
            la.bias.copy_(b / 2 ** k)
            layers.append(IntLayer(w.long().numpy(), b.long().numpy(), k, k, res))
    grid = torch.randint(-6, 7, (1, 1, 9, 11), generator=g).float()
    ctx, _ = arm.contexts([grid])
    mu, log_scale, _ = arm([grid])
    raw = IntARM(layers).raw(ctx.t().numpy().astype(np.int64)) / 2.0 ** ACT_BITS
    # only the per-layer floor to 2^-ACT_BITS separates them; without the residual in the
    # integer layers they would differ by the size of the context values
    assert np.abs(raw[:, 0] - mu.detach().numpy()).max() < 0.05
    assert np.abs(raw[:, 1] - log_scale.detach().numpy()).max() < 0.05
