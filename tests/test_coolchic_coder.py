"""The fixed-point ARM and the latent range coder; upsampling and integer tables."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inrcodec.codecs.coolchic import arm_int
from inrcodec.codecs.coolchic.arm import ARM, context_offsets, laplace_bits, wave_factor
from inrcodec.codecs.coolchic.arm_int import (
    IntARM,
    IntLayer,
    decode_latents,
    encode_latents,
    prob_table,
)
from inrcodec.codecs.coolchic.upsampling import BICUBIC_HALF, upsample2
from inrcodec.errors import DecodeError


def random_arm(rng, context, hidden, k=8):
    dims = [context, *hidden, 2]
    return IntARM([IntLayer(rng.integers(-80, 80, (dims[i + 1], dims[i])),
                            rng.integers(-300, 300, dims[i + 1]), k, k + int(rng.integers(-2, 3)))
                   for i in range(len(dims) - 1)])


@pytest.mark.parametrize("context, hidden", [(12, (12, 12)), (24, (24, 24)), (3, ())])
def test_latent_coder_roundtrip_random_laplace(context, hidden):
    rng = np.random.default_rng(context)
    arm = random_arm(rng, context, hidden)
    shapes = [(37, 53), (19, 27), (10, 14), (5, 7), (3, 4), (2, 2), (1, 1)]
    grids = [np.clip(np.round(rng.laplace(rng.normal(0, 2), rng.uniform(0.1, 4), s)), -127,
                     127).astype(np.int64) for s in shapes]
    data = encode_latents(grids, arm, context)
    out = decode_latents(data, shapes, arm, context)
    assert all(np.array_equal(a, b) for a, b in zip(grids, out, strict=True))
    with pytest.raises(DecodeError):
        decode_latents(data[:-4], shapes, arm, context)


def test_coder_reaches_the_model_entropy():
    """Symbols drawn from the very distributions the ARM gives cost about their entropy."""
    rng = np.random.default_rng(0)
    arm = IntARM([IntLayer(np.zeros((2, 4), np.int64), np.array([0, 0]), 8, 8)])  # mu 0, b~0.37
    mu, s = arm(np.zeros((1, 4), np.int64))
    b = float(arm_int.scale_of_index(s[0]))
    grid = np.clip(np.round(rng.laplace(0, b, (200, 200))), -127, 127).astype(np.int64)
    data = encode_latents([grid], arm, 4)
    p = prob_table(max(1, int(np.abs(grid).max())))[s[0], 0]
    a = (p.size - 1) // 2
    ideal = -np.log2(p[grid.reshape(-1) + a]).sum()
    assert 8 * len(data) < ideal * 1.02 + 200


def test_prob_tables_are_integer_exact_and_valid():
    assert arm_int.DECAY == tuple(
        round(2 ** 24 * math.exp(-1 / (16 * math.exp((arm_int.LN_MIN_FP + arm_int.LN_STEP_FP * i)
                                                     / 256)))) for i in range(64))
    p = prob_table(5)
    assert p.shape == (64, 16, 11) and np.all(p > 0)
    assert np.allclose(p.sum(-1), 1)
    # mu fraction 0: symmetric around residual 0; larger scales spread out
    assert np.allclose(p[:, 0], p[:, 0, ::-1]) and p[10, 0, 5] > p[40, 0, 5]
    assert np.argmax(p[5, 15]) == 6  # mu = 15/16 -> mode at residual 1


def test_float_and_integer_arm_agree():
    """The integer ARM on quantised weights tracks the float ARM (what training optimises)."""
    torch.manual_seed(0)
    arm = ARM(12, (12, 12))
    with torch.no_grad():
        for layer in arm.layers:
            layer.weight.copy_(torch.round(layer.weight * 256) / 256)
            layer.bias.copy_(torch.round(layer.bias * 256) / 256)
    grid = torch.round(torch.randn(1, 1, 9, 11) * 3)
    mu, ls, _ = arm([grid])
    int_arm = IntARM([IntLayer(torch.round(la.weight * 256).long().numpy(),
                               torch.round(la.bias * 256).long().numpy(), 8, 8)
                      for la in arm.layers])
    g = grid[0, 0].long().numpy()
    pad = np.pad(g, ((3, 0), (3, 3)))
    ctx = np.stack([pad[3 + dy:3 + dy + 9, 3 + dx:3 + dx + 11] for dy, dx in arm.offsets], -1)
    raw = int_arm.raw(ctx.reshape(-1, 12)) / 256.0
    assert np.abs(raw[:, 0] - mu.detach().numpy()).max() < 0.05
    assert np.abs(raw[:, 1] - ls.detach().numpy()).max() < 0.05


def test_context_and_waves():
    off = context_offsets(24)
    assert len(off) == 24 and len(set(off)) == 24
    assert all(dy < 0 or (dy == 0 and dx < 0) for dy, dx in off)
    assert off[:2] == ((0, -1), (-1, 0)) or set(off[:2]) == {(0, -1), (-1, 0)}
    k = wave_factor(off)
    assert all(dx + k * dy < 0 for dy, dx in off)


def test_rate_estimate_is_a_probability():
    x = torch.arange(-5.0, 6.0)
    bits = [float(laplace_bits(x[i:i + 1], torch.zeros(1), torch.zeros(1))) for i in range(11)]
    assert abs(sum(2.0 ** -b for b in bits) - 1.0) < 0.02 and bits[5] == min(bits)


def test_bicubic_upsampling_matches_torch():
    x = torch.rand(2, 3, 5, 7)
    ref = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
    assert torch.allclose(upsample2(x, torch.tensor(BICUBIC_HALF)), ref, atol=1e-6)
