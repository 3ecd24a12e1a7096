"""Cool-chic v1/v2: real files, bit-exact decoding across thread counts, training behaviour,
every registry loss, corrupt payloads."""

import math
import time

import pytest
import torch

import inrcodec
from conftest import (
    assert_corrupt_sections_refused,
    assert_decodes_alike_with_three_threads,
    assert_truncations_refused,
    crop,
)
from inrcodec.codecs.coolchic import CoolChicV1, CoolChicV2
from inrcodec.codecs.coolchic.arm import laplace_bits
from inrcodec.codecs.coolchic.latents import proxy, softround
from inrcodec.codecs.coolchic.model import CoolChicModel, module_tensors
from inrcodec.codecs.coolchic.rdquant import quantize_model
from inrcodec.codecs.coolchic.train import (
    Phase,
    clipped_step,
    cosine_schedule,
    make_optimizer,
    rounded_objective,
    train_phase,
)
from inrcodec.errors import ConfigError
from inrcodec.losses import BUILTIN_LOSSES, parse_loss

TINY = dict(steps=40, ste_steps=5, warmup_candidates=2, warmup_steps=5, lpips=False)


@pytest.fixture(scope="module")
def v2_file(sample):
    # 80 rows: the decoder renders in row strips (more than 32 + halo rows)
    return inrcodec.encode(crop(sample, 10, 60, 80, 48), codec="coolchic-v2", preset="fast",
                           lmbda=1e-3, **TINY)


@pytest.mark.parametrize("codec", ["coolchic-v1", "coolchic-v2"])
def test_roundtrip_through_real_file(small, codec, tmp_path):
    r = inrcodec.encode(small, codec=codec, preset="fast", lmbda=1e-3, **TINY)
    img = inrcodec.decode(bytes(r))
    assert torch.equal(img.data, r.reconstruction.quantized().data)
    info = inrcodec.api.info(bytes(r))
    assert info["codec"] == codec and set(info["sections"]) == {"h", "w", "l"}
    assert r.log["steps"] == {"warmup": 10, "fit": 40, "ste": 5}
    assert r.metrics["psnr"] > 10 and r.bpp < 24
    assert sum(r.log["section_bytes"].values()) == r.payload_bytes


def test_bit_exact_decode_with_other_thread_count(v2_file, tmp_path):
    assert_decodes_alike_with_three_threads(bytes(v2_file), tmp_path)


@pytest.mark.parametrize(("bf16", "compiled"), [(False, False), (True, False), (False, True)])
def test_short_fit_lowers_loss(small, bf16, compiled):
    # compiled: torch.compile with the codec's inductor options
    s = CoolChicV2.make_settings("fast", lmbda=1e-3, bf16=bf16, compile=compiled)
    target = small.data.unsqueeze(0)
    model = CoolChicModel(s, small.height, small.width, small.channels)
    loss = parse_loss("mse")
    before = rounded_objective(model, loss, target, s)
    train_phase(model, loss, target, s, Phase.fit(s, steps=60))
    after = rounded_objective(model, loss, target, s)
    assert after < 0.5 * before


def test_rate_falls_as_lambda_rises(sample):
    image = crop(sample, 16, 64, 64, 64)
    kw = dict(codec="coolchic-v1", preset="fast", steps=120, ste_steps=10, warmup_candidates=1,
              metrics=False)
    lo = inrcodec.encode(image, lmbda=1e-4, **kw)
    hi = inrcodec.encode(image, lmbda=3e-2, **kw)
    assert len(hi) < 0.8 * len(lo)
    assert hi.log["section_bytes"]["l"] < lo.log["section_bytes"]["l"]


@pytest.mark.parametrize("loss", sorted(BUILTIN_LOSSES))
def test_every_registry_loss_trains(small, loss):
    seen = []
    r = inrcodec.encode(small, codec="coolchic-v1", loss=loss, preset="fast", steps=30,
                        ste_steps=2, warmup_candidates=1, metrics=False, progress=seen.append)
    assert torch.equal(inrcodec.decode(bytes(r)).data, r.reconstruction.quantized().data)
    fit = [p.loss for p in seen if p.phase == "fit"]
    assert len(fit) == 30 and min(fit[-5:]) < 0.9 * fit[0], (loss, fit[0], fit[-5:])


def test_losses_of_the_study_reduce_distortion(small):
    target = small.data.unsqueeze(0)
    for name in ("l1ssim", "lcssim"):
        s = CoolChicV1.make_settings("fast", lmbda=1e-3)
        model = CoolChicModel(s, small.height, small.width, small.channels)
        loss = parse_loss(name)
        with torch.no_grad():
            before = float(loss(model("round")[0], target))
        train_phase(model, loss, target, s, Phase.fit(s, steps=40))
        with torch.no_grad():
            assert float(loss(model("round")[0], target)) < before, name


@pytest.mark.parametrize("spec, message", [
    ("", "empty"),
    ("40-1-linear", "expected OUT-KERNEL-TYPE-ACT"),
    ("40-2-linear-relu,X-1-linear-none", "odd"),
    ("40-1-conv-relu,X-1-linear-none", "expected"),
    ("40-1-linear-swish,X-1-linear-none", "activation"),
    ("40-1-linear-relu,12-3-residual-relu,X-1-linear-none", "residual"),
    ("999-1-linear-relu,X-1-linear-none", "width"),
    ("40-1-linear-relu,4-1-linear-none", "image has 3"),
])
def test_synthesis_spec_errors(small, spec, message):
    with pytest.raises(ConfigError, match=message):
        inrcodec.encode(small, codec="coolchic-v2", synthesis=spec, **TINY)


def test_strip_rendering_equals_whole_image():
    """The decoder renders in row strips with a halo: the same values as one whole pass (up
    to float64 rounding: BLAS may sum a row differently for another row length), and the
    no-grad float64 tap convolution equals torch's convolution."""
    from inrcodec.codecs.coolchic.synthesis import Synthesis

    torch.manual_seed(0)
    syn = Synthesis("16-1-linear-relu,X-1-linear-none,X-3-residual-relu,X-5-residual-none",
                    5, 3).double()
    for conv in syn.convs:
        conv.weight.data.normal_(0, 0.3)
        conv.bias.data.normal_(0, 0.1)
    x = torch.randn(1, 5, 101, 37, dtype=torch.float64)
    reference = syn(x).detach()  # grad enabled: torch's convolution
    with torch.no_grad():
        whole = syn(x)
        strips = syn.forward_strips(x, rows=8)
    assert torch.allclose(whole, reference, rtol=0, atol=1e-12)
    assert torch.allclose(strips, whole, rtol=0, atol=1e-12)


def test_noise_settings_are_validated():
    with pytest.raises(ConfigError, match="noise_type"):
        CoolChicV2.make_settings(noise_type="laplace")
    with pytest.raises(ConfigError, match="noise"):
        CoolChicV2.make_settings(noise=(0.25,))
    with pytest.raises(ConfigError, match="bf16"):
        CoolChicV2.make_settings(bf16="maybe")
    s = CoolChicV2.make_settings()
    assert s.noise_type == "gaussian" and s.noise == (0.25, 0.1)


def test_settings_are_validated():
    with pytest.raises(ConfigError):
        CoolChicV2.make_settings(arm_context=25)
    with pytest.raises(ConfigError):
        CoolChicV2.make_settings(latent_channels=(0, 0))
    with pytest.raises(ConfigError):
        CoolChicV1.make_settings(upsampling="nearest")
    s = CoolChicV1.make_settings("fast")
    assert s.upsampling == "bicubic" and s.proxy == "noise" and s.arm_hidden == (12, 12)
    assert CoolChicV2.make_settings("fast").upsampling == "learned"


def test_gradient_clipping_bounds_the_global_norm():
    for bad in (-1, True, float("nan"), "big"):
        with pytest.raises(ConfigError, match="grad_clip"):
            CoolChicV2.make_settings(grad_clip=bad)
    s = CoolChicV2.make_settings("fast")
    assert s.grad_clip == 0.1  # Cool-chic's value
    assert CoolChicV1.make_settings("fast").grad_clip == 0  # clipped v1 collapses more often
    torch.manual_seed(0)
    model = CoolChicModel(s, 16, 16, 3)
    opt = make_optimizer(model, 1e-2, s.upsampling_lr_scale)
    for p in model.parameters():
        p.grad = torch.randn_like(p)  # global norm ~ sqrt(#params), far above 0.1
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    clipped_step(opt, s.grad_clip)
    norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert norm == pytest.approx(s.grad_clip, rel=1e-3)
    assert all(not torch.equal(p, before[n]) for n, p in model.named_parameters())
    grads = [p.grad.clone() for p in model.parameters()]
    clipped_step(opt, 0)  # 0: no clipping, the gradients stay as they are
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads, strict=True))



@pytest.mark.parametrize("keep_best", [True, False])
def test_phase_keep_best_restores_the_best_state(small, keep_best):
    # the loss gets a growing penalty per step (no gradient): it falls, then rises, so the
    # best state is neither the first nor the last; a state scores before its update, so the
    # state scored at step i is the one left after progress event i - 1
    s = CoolChicV2.make_settings("fast", lmbda=1e-3)
    torch.manual_seed(0)
    model = CoolChicModel(s, small.height, small.width, small.channels)
    mse, calls = parse_loss("mse"), []

    def loss(img, target):
        calls.append(None)
        return mse(img, target) + 0.002 * (len(calls) - 1) ** 2

    def snapshot():
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    states, losses = [snapshot()], []

    def progress(p):
        losses.append(p.loss)
        states.append(snapshot())

    value = train_phase(model, loss, small.data.unsqueeze(0), s,
                        Phase("ste", 12, 2e-2, "ste", keep_best=keep_best, bf16=False),
                        progress=progress)
    best = losses.index(min(losses))
    assert len(losses) == 12 and 0 < best < 11
    expected, score = (states[best], losses[best]) if keep_best else (states[-1], losses[-1])
    assert value == score
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())


def test_cosine_schedule_scales_each_groups_base_rate():
    s = CoolChicV2.make_settings("fast")  # learned upsampling: a second group
    opt = make_optimizer(CoolChicModel(s, 16, 16, 3), 1e-2, s.upsampling_lr_scale)
    assert len(opt.param_groups) == 2
    apply = cosine_schedule(7)
    for step in range(7):
        apply(step, opt)
        for g in opt.param_groups:  # the same float as Cool-chic's formula
            assert g["lr"] == g["base"] * 0.5 * (1 + math.cos(math.pi * step / 7))

def test_truncated_files_fail_cleanly(v2_file):
    assert_truncations_refused(bytes(v2_file), 60)


def test_corrupt_sections_fail_cleanly(v2_file):
    t0 = time.perf_counter()
    assert_corrupt_sections_refused(CoolChicV2(), bytes(v2_file), 12, 25)
    assert time.perf_counter() - t0 < 60


@pytest.mark.parametrize("shape, mode", [((1, 1, 1), "L"), ((1, 17, 5), "L"),
                                         ((3, 3, 70), "RGB"), ((4, 9, 9), "RGBA")])
def test_odd_sizes_and_modes(shape, mode):
    from inrcodec.image import Image

    img = Image(torch.rand(*shape), 8, mode)
    for codec in ("coolchic-v1", "coolchic-v2"):
        r = inrcodec.encode(img, codec=codec, steps=3, ste_steps=1, warmup_candidates=1,
                            metrics=False)
        assert torch.equal(inrcodec.decode(bytes(r)).data, r.reconstruction.quantized().data)


def test_noise_proxy_prices_half_integer_latents_at_almost_nothing():
    """Why v1 needs its STE phase: latents parked at 0.5 with the ARM's mean on them cost
    almost nothing under additive noise (the bin around y + u always holds 0.5), but round to
    0 or 1 (ties to even, so the side is chance) and then cost about a bit each."""
    torch.manual_seed(0)
    y = 0.5 + 1e-3 * torch.randn(10000)
    mu, log_scale = torch.full_like(y, 0.5), torch.full_like(y, -3.9)
    noisy = laplace_bits(proxy(y, "noise"), mu, log_scale) / y.numel()
    rounded = laplace_bits(proxy(y, "round"), mu, log_scale) / y.numel()
    assert noisy < 0.1 and rounded > 0.9


@pytest.mark.parametrize("as_tensor", [False, True])
def test_softround_interpolates_between_identity_and_rounding(as_tensor):
    """softround(x, T): continuous and increasing, x itself at integers and half-integers,
    round(x) as T -> 0 and x for large T (T as a float and as a 0-d tensor)."""
    def sr(x, t):
        return softround(x, torch.tensor(t, dtype=torch.float64) if as_tensor else t)

    x = torch.linspace(-3, 3, 6001, dtype=torch.float64)
    for t in (0.05, 0.3, 1.0):
        y = sr(x, t)
        assert bool((y.diff() > 0).all()), t
        assert float((y - x).abs().max()) < 0.5
    fixed = torch.arange(-6, 7, dtype=torch.float64) / 2  # integers and half-integers
    for t in (0.05, 0.3, 1.0):
        assert torch.allclose(sr(fixed, t), fixed, rtol=0, atol=1e-12)
    n = torch.arange(-3, 4, dtype=torch.float64)  # no jump where floor(x) changes
    for t in (0.1, 0.3):
        assert torch.allclose(sr(n - 1e-9, t), sr(n + 1e-9, t), rtol=0, atol=1e-6)
    off_half = x[((x - torch.floor(x)) - 0.5).abs() > 0.05]
    assert torch.allclose(sr(off_half, 1e-3), torch.round(off_half), rtol=0, atol=1e-9)
    assert torch.allclose(sr(x, 1e3), x, rtol=0, atol=1e-6)
    mid = sr(torch.tensor([0.25], dtype=torch.float64), 0.3)
    assert 0 < float(mid) < 0.25  # pulled towards the nearest integer


def test_softround_and_ste_proxies():
    torch.manual_seed(0)
    y = 4 * torch.randn(1000)
    for noise_type in ("gaussian", "uniform"):
        out = proxy(y, "softround", 0.2, noise=0.0, noise_type=noise_type)
        assert torch.equal(out, softround(softround(y, 0.2), 0.2))
        noisy = proxy(y, "softround", 0.2, noise=0.5, noise_type=noise_type)
        assert not torch.allclose(noisy, out, rtol=0, atol=1e-3)
    y = y.requires_grad_()
    out = proxy(y, "ste")
    assert torch.equal(out, torch.round(y.detach()))
    (out * torch.arange(1000.0)).sum().backward()
    assert torch.equal(y.grad, torch.arange(1000.0))  # identity gradient


def test_weight_quantisation_returns_its_choice():
    torch.manual_seed(0)
    s = CoolChicV2.make_settings("fast", quantize_search=False)
    model = CoolChicModel(s, 16, 16, 3)
    for p in model.parameters():
        p.data.normal_(0, 0.1)
    target = torch.rand(1, 3, 16, 16)
    q = quantize_model(model, parse_loss("mse"), target, s)
    assert q.steps == {"arm": (8, 8), "upsampling": (8, 8), "synthesis": (8, 8)}
    for name in ("arm", "upsampling", "synthesis"):
        for t in sum(module_tensors(model, name), []):  # left on the grid 2^-8
            assert torch.equal(t * 256, torch.round(t * 256)), name
    with torch.no_grad():
        lat = model.rounded_latents()
        assert q.latent_bits == pytest.approx(float(model.bits(lat)), rel=1e-6)
        d = float(parse_loss("mse")(model.render(lat), target))
    assert d + s.lmbda * q.latent_bits / 256 < q.cost < math.inf  # plus the weights' bits


def test_upsampling_decoder_path_equals_training_path():
    """_up_last writes the decoder's (no-grad) sums in place: the same floats, in the same
    order, as the autograd path's expression, for contiguous and transposed inputs."""
    from inrcodec.codecs.coolchic.upsampling import _up_last

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 5, 23, 17, dtype=torch.float64, generator=gen)
    half = torch.randn(4, dtype=torch.float64, generator=gen)
    for inp in (x, x.transpose(-1, -2)):
        with torch.no_grad():
            fast = _up_last(inp, half)
        slow = _up_last(inp, half.clone().requires_grad_()).detach()
        assert torch.equal(fast, slow)
