import math

import numpy as np
import pytest
import torch
from pytorch_msssim import ssim as ref_ssim

from inrcodec.errors import ConfigError
from inrcodec.losses import BUILTIN_LOSSES, DEFINITIONS, LOSSES, describe_loss, parse_loss


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(1)
    t = torch.rand(1, 3, 24, 20, generator=g, dtype=torch.float64)
    p = (t + 0.2 * torch.randn(t.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return p, t


def test_pointwise_losses_match_numpy(pair):
    p, t = pair
    d = (p - t).numpy()
    assert float(LOSSES["l1"](p, t)) == pytest.approx(np.abs(d).mean(), rel=1e-12)
    assert float(LOSSES["mse"](p, t)) == pytest.approx((d ** 2).mean(), rel=1e-12)
    assert float(LOSSES["rmse"](p, t)) == pytest.approx(np.sqrt((d ** 2).mean()), rel=1e-9)
    assert float(LOSSES["logcosh"](p, t)) == pytest.approx(np.log(np.cosh(d)).mean(), rel=1e-9)


def test_logcosh_is_stable_for_large_differences():
    p = torch.tensor([[[[1000.0, -1000.0]]]])
    value = float(LOSSES["logcosh"](p, torch.zeros_like(p)))
    assert value == pytest.approx(1000.0 - math.log(2.0), rel=1e-6)


def test_ssim_terms(pair):
    p, t = pair
    s = float(ref_ssim(p, t, data_range=1.0, win_size=11))
    assert float(LOSSES["ssim"](p, t)) == pytest.approx(1 - s, rel=1e-9)
    lc = np.log(np.cosh((p - t).numpy())).mean()
    assert float(LOSSES["lcssim"](p, t)) == pytest.approx(lc + 0.01 * (1 - s), rel=1e-9)
    l1 = np.abs((p - t).numpy()).mean()
    assert float(LOSSES["l1ssim"](p, t)) == pytest.approx(0.8 * l1 + 0.2 * (1 - s), rel=1e-9)
    assert float(LOSSES["ssim"](t, t)) == pytest.approx(0.0, abs=1e-9)


def test_msssim_on_small_and_large_images():
    g = torch.Generator().manual_seed(2)
    for shape in [(1, 1, 5, 3), (1, 3, 32, 32), (1, 3, 200, 180)]:
        t = torch.rand(shape, generator=g, dtype=torch.float64)
        p = (t + 0.1).clamp(0, 1)
        v = float(LOSSES["msssim"](p, t))
        assert 0 < v < 1
        assert float(LOSSES["msssim"](t, t)) == pytest.approx(0.0, abs=1e-9)


def test_weighted_sum_parser(pair):
    p, t = pair
    loss = parse_loss("0.8*l1 + 0.2*ssim")
    expected = 0.8 * LOSSES["l1"](p, t) + 0.2 * LOSSES["ssim"](p, t)
    assert float(loss(p, t)) == pytest.approx(float(expected), rel=1e-12)
    assert str(loss) == "0.8*l1+0.2*ssim"
    assert float(parse_loss("mse")(p, t)) == float(LOSSES["mse"](p, t))
    assert float(parse_loss("2e-1*mse")(p, t)) == pytest.approx(0.2 * float(LOSSES["mse"](p, t)))


@pytest.mark.parametrize("bad", ["", "foo", "0.5*", "l1+", "1.2.3*l1", "l1*0.5"])
def test_parser_rejects_garbage(bad):
    with pytest.raises(ConfigError):
        parse_loss(bad)


def test_every_loss_has_gradient(pair):
    p, t = pair
    for name in BUILTIN_LOSSES:
        fn = LOSSES[name]
        x = p.clone().requires_grad_(True)
        fn(x, t).backward()
        assert x.grad is not None and torch.isfinite(x.grad).all(), name
        assert x.grad.abs().sum() > 0, name


def test_every_builtin_loss_is_described():
    assert set(DEFINITIONS) == set(BUILTIN_LOSSES)
    assert describe_loss("cc_l1ssim").startswith("(0.8 l1 + 0.2 (1 − SSIM)) / 2")
    assert describe_loss("0.8*l1+0.2*ssim") == "0.8 × l1 (mean |d|) + 0.2 × ssim (1 − SSIM)"
    assert describe_loss("nosuchloss") == "unknown loss"
