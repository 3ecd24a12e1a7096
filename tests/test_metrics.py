import math

import numpy as np
import pytest
import torch
from pytorch_msssim import ms_ssim as ref_ms_ssim

from inrcodec.image import Image, from_codes
from inrcodec.medical.dice import dice
from inrcodec.metrics import evaluate, msssim_db, psnr
from inrcodec.ssim import ms_ssim


def _img(codes: np.ndarray, bits: int) -> Image:
    mode = "L" if codes.shape[2] == 1 else "RGB"
    return Image(from_codes(codes, bits), bits, mode)


def test_psnr_8_and_16_bit():
    a = np.full((4, 4, 1), 100, np.uint8)
    b = a.copy()
    b[0, 0, 0] = 110  # one pixel off by 10: MSE = 100/16
    assert psnr(_img(a, 8), _img(b, 8)) == pytest.approx(10 * math.log10(255 ** 2 / (100 / 16)))
    a16 = np.full((4, 4, 1), 30000, np.uint16)
    b16 = a16.copy()
    b16[1, 2, 0] = 30040
    assert psnr(_img(a16, 16), _img(b16, 16)) == pytest.approx(
        10 * math.log10(65535 ** 2 / (1600 / 16)))
    assert psnr(_img(a, 8), _img(a, 8)) == math.inf


def test_msssim_db_and_reference_agreement():
    assert msssim_db(0.99) == pytest.approx(20.0)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 192, 176, generator=g, dtype=torch.float64)
    y = (x + 0.05 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    assert float(ms_ssim(y, x)) == pytest.approx(float(ref_ms_ssim(y, x, data_range=1.0)))


def test_evaluate_keys_without_lpips(small):
    noisy = small.with_data(small.data + 0.02 * torch.randn_like(small.data))
    m = evaluate(small, noisy, lpips=False)
    assert set(m) == {"psnr", "ssim", "msssim", "msssim_db"}
    assert 25 < m["psnr"] < 40 and 0 < m["msssim"] < 1


def test_dice():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert dice(a, b) == 1.0
    a[:2] = True
    b[1:3] = True
    assert dice(a, b) == pytest.approx(2 * 4 / 16)
