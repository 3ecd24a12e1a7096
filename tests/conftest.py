from __future__ import annotations

from pathlib import Path

import pytest
import torch

from inrcodec.image import Image
from inrcodec.io import read_image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SAMPLE = ROOT / "src" / "inrcodec" / "data" / "kodim23_192x128.png"


@pytest.fixture(scope="session")
def sample() -> Image:
    return read_image(SAMPLE)


def crop(image: Image, top: int, left: int, h: int, w: int) -> Image:
    return image.with_data(image.data[:, top:top + h, left:left + w])


@pytest.fixture(scope="session")
def small(sample: Image) -> Image:
    """A 32x32 RGB crop with some structure (the parrot's head)."""
    return crop(sample, 30, 90, 32, 32)


def requires_shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not found: {path}")
    return path


# Tiny tensors gain nothing from a second thread, and a busy machine makes OpenMP's spinning
# threads very slow: one thread keeps the suite's time predictable.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
