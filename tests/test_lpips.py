import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from conftest import requires_shared
from inrcodec.lpips import lpips


def _load(path):
    arr = np.asarray(PILImage.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)


def test_reference_values():
    d = requires_shared("lpips")
    ref, p0, p1 = (_load(d / f"{n}.png") for n in ("ex_ref", "ex_p0", "ex_p1"))
    assert float(lpips(ref, p0)) == pytest.approx(0.722, abs=0.002)
    assert float(lpips(ref, p1)) == pytest.approx(0.138, abs=0.002)


def test_identity_tiny_and_gradients():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 40, 48, generator=g)
    assert torch.allclose(lpips(x, x), torch.zeros(2), atol=1e-6)
    for shape in [(1, 3, 1, 1), (1, 3, 3, 5), (1, 1, 1, 40), (1, 4, 9, 9)]:
        a, b = torch.rand(shape, generator=g), torch.rand(shape, generator=g)
        assert torch.isfinite(lpips(a, b)).all()
    y = torch.rand(1, 3, 40, 40, generator=g, requires_grad=True)
    lpips(y, torch.rand(1, 3, 40, 40, generator=g)).sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
