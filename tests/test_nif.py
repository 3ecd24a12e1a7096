"""NIF: real file round trips, presets ordered by rate, the modulator matters."""

import copy
import math

import pytest
import torch

import inrcodec
from inrcodec.codecs.inr.nif import NIFCodec, patched, perturb, round_schedule
from inrcodec.losses import parse_loss

TINY = dict(hidden=(24, 12, 8), mod_hidden=(8,), freqs=6, steps=120, rounds=3, qat_steps=20,
            qat_rounds=2)


def test_roundtrip_through_real_file(small):
    r = inrcodec.encode(small, codec="nif", lpips=False, **TINY)
    img = inrcodec.decode(r)
    assert torch.equal(img.data, r.reconstruction.quantized().data)
    assert r.metrics["psnr"] > 18
    assert r.settings["bits"] == 8 and r.log["fit_steps"] == 120 and r.log["qat_steps"] == 20
    assert set(r.log["weight_bytes"]) == {"brotli", "laplace-range"}
    assert len(r.log["weight_bytes"]) and min(r.log["weight_bytes"].values()) < len(r)


def test_presets_span_rates_and_psnr_rises(small):
    codec = NIFCodec()
    params = [sum(p.numel() for p in codec.build(codec.make_settings(k), 3).parameters())
              for k in ("120", "200", "280", "360", "450", "680")]
    assert params == sorted(params)
    short = dict(steps=150, rounds=2, qat_steps=20, qat_rounds=1, lpips=False)
    lo = inrcodec.encode(small, codec="nif", preset="120", **short)
    hi = inrcodec.encode(small, codec="nif", preset="280", **short)
    assert len(hi) > len(lo) and hi.metrics["psnr"] > lo.metrics["psnr"]


def test_modulator_changes_activations_and_learns():
    codec = NIFCodec()
    net = codec.build(codec.make_settings(**{k: v for k, v in TINY.items()
                                             if k in ("hidden", "mod_hidden", "freqs")}), 3)
    with torch.no_grad():
        net.modulator.tail.bias.fill_(0.3)
    base = net.render(8, 8)
    with torch.no_grad():
        net.modulator.tail.bias.fill_(-0.3)
    assert not torch.allclose(base, net.render(8, 8), atol=1e-3)
    net.render(8, 8).square().mean().backward()
    grads = [p.grad.abs().sum() for p in net.modulator.parameters()]
    assert all(g > 0 for g in grads)


def test_every_registry_loss_trains(small):
    from inrcodec.losses import BUILTIN_LOSSES

    tiny = dict(TINY, steps=20, rounds=1, qat_steps=0)
    for name in BUILTIN_LOSSES:
        seen = []
        r = inrcodec.encode(small, codec="nif", loss=name, metrics=False, progress=seen.append,
                            **tiny)
        first = seen[0].loss  # measured before the first update
        assert len(seen) == r.log["fit_steps"] == 20 and seen[0].step == 1, name
        assert r.log["fit_loss"] == min(p.loss for p in seen), name
        assert r.log["fit_loss"] < 0.9 * first, (name, first, r.log["fit_loss"])


def test_patched_loss_and_schedule():
    x = torch.rand(1, 3, 5, 7)
    y = torch.rand(1, 3, 5, 7)
    mse = parse_loss("mse")
    # replicate padding changes the mean slightly; on even sizes it is exactly the plain loss
    xe, ye = x[..., :4, :6], y[..., :4, :6]
    assert float(patched(mse, 2)(xe, ye)) == pytest.approx(float(mse(xe, ye)), rel=1e-6)
    assert torch.isfinite(patched(parse_loss("lcssim"), 2)(x, y))
    f = round_schedule(100, 20, 1e-3, 6e-4)
    assert f(0) == pytest.approx(0.6) and f(19) == pytest.approx(1.0)
    assert f(99) == pytest.approx(0.6 + 0.4 * 0.01)


def test_round_schedule_warms_up_then_decays_linearly_to_eta_min():
    steps, warmup, lr, eta_min = 50, 10, 1e-3, 2e-4
    f = round_schedule(steps, warmup, lr, eta_min)
    lrs = [lr * f(t) for t in range(steps + 1)]
    assert lrs[0] == pytest.approx(eta_min) and lrs[warmup - 1] == pytest.approx(lr)
    rise = [b - a for a, b in zip(lrs[:warmup], lrs[1:warmup], strict=False)]
    assert all(d == pytest.approx(rise[0]) and d > 0 for d in rise)  # linear warm-up
    # after the warm-up: the straight line from lr at t=0 down to eta_min at t=steps
    assert all(lrs[t] == pytest.approx(lr + (eta_min - lr) * t / steps)
               for t in range(warmup, steps + 1))
    assert lrs[steps] == pytest.approx(eta_min) and min(lrs) >= eta_min * (1 - 1e-12)


def _net(hidden=(64, 48, 32), **kw):
    codec = NIFCodec()
    return codec, codec.build(codec.make_settings(hidden=hidden, mod_hidden=(32,), **kw), 3)


def test_perturb_spares_the_head_and_biases_and_changes_the_asked_fraction():
    _, net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    amount, spread = 0.3, 0.5
    perturb(net, amount, spread, torch.Generator().manual_seed(5))
    after = net.state_dict()
    assert torch.equal(after["head.weight"], before["head.weight"])
    assert torch.equal(after["head.bias"], before["head.bias"])
    assert all(torch.equal(after[k], before[k]) for k in before if k.endswith("bias"))
    linears = [k for k in before if k.endswith("weight") and k != "head.weight"]
    assert "modulator.tail.weight" in linears and "tail.weight" in linears
    for k in linears:
        delta = after[k] - before[k]
        bound = spread * float(before[k].abs().mean()) / amount
        assert float(delta.abs().max()) <= bound * (1 + 1e-5), k  # U(-s, s) / amount
        n = delta.numel()
        changed = float((delta != 0).float().mean())
        tol = 5 * math.sqrt(amount * (1 - amount) / n)  # five binomial standard deviations
        assert abs(changed - amount) <= tol, (k, n, changed)
    big = [k for k in linears if before[k].numel() >= 1000]
    assert big  # the fraction check above is tight on these


def test_perturb_is_deterministic_for_a_seeded_generator():
    _, a = _net()
    _, b = _net()
    b.load_state_dict(a.state_dict())
    c = copy.deepcopy(a)
    perturb(a, 0.2, 0.4, torch.Generator().manual_seed(11))
    perturb(b, 0.2, 0.4, torch.Generator().manual_seed(11))
    perturb(c, 0.2, 0.4, torch.Generator().manual_seed(12))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                  b.state_dict().values(), strict=True))
    assert not torch.equal(a.tail.weight, c.tail.weight)


def test_rounds_end_on_the_best_round_not_the_last(small, monkeypatch):
    """A restart that wrecks the net makes the second round worse than the first: the phase
    must end on the first round's best state, and report its loss."""
    from inrcodec.codecs.inr import nif
    from inrcodec.codecs.inr.base import training_render

    codec = NIFCodec()
    s = codec.make_settings(**dict(TINY, steps=40, rounds=2))
    net = codec.build(s, 3)
    loss = patched(parse_loss("mse"), s.patching)
    kept = {}

    def wreck(net, t, qat, generator):
        kept.update({k: v.clone() for k, v in net.state_dict().items()})
        with torch.no_grad():
            net.tail.bias.fill_(10.0)  # far from any pixel value: round 2 cannot get back

    monkeypatch.setattr(nif, "restart", wreck)
    seen = []
    target = small.data.unsqueeze(0)
    log = codec.train_phase(net, training_render(net, 32, 32, False), target, parse_loss("mse"),
                            s, False, seen.append, 0)
    assert kept and log.steps == 40 and [p.step for p in seen] == list(range(1, 41))
    round1, round2 = [p.loss for p in seen[:20]], [p.loss for p in seen[20:]]
    assert min(round2) > 10 * max(round1)
    assert log.best_loss == min(round1) and log.final_loss == round2[-1]
    assert all(torch.equal(v, kept[k]) for k, v in net.state_dict().items())
    with torch.no_grad():
        again = float(loss(net.render(32, 32), target))
    assert again == pytest.approx(log.best_loss, rel=1e-5)


def test_corrupt_payload_fails_cleanly(small):
    from inrcodec.coding.container import Container, pack, unpack
    from inrcodec.errors import DecodeError

    r = inrcodec.encode(small, codec="nif", metrics=False, **dict(TINY, steps=10, qat_steps=0))
    c = unpack(bytes(r))
    for cut in (0, 1, len(c.sections["w"]) // 2):
        bad = dict(c.sections, w=c.sections["w"][:cut])
        with pytest.raises(DecodeError):
            inrcodec.decode(pack(Container(c.codec, c.config, c.image, bad)))
    with pytest.raises(DecodeError):
        inrcodec.decode(pack(Container(c.codec, c.config, c.image, dict(c.sections, s=b"1"))))
