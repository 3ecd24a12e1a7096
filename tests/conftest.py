from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from inrcodec.image import Image
from inrcodec.io import read_image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SAMPLE = ROOT / "src" / "inrcodec" / "data" / "kodim23_192x128.png"
# tests compile into a cache of their own (kept between runs), never the user's
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(ROOT / ".pytest_cache" / "torchinductor"))


@pytest.fixture(scope="session")
def sample() -> Image:
    return read_image(SAMPLE)


def crop(image: Image, top: int, left: int, h: int, w: int) -> Image:
    return image.with_data(image.data[:, top:top + h, left:left + w])


@pytest.fixture(scope="session")
def small(sample: Image) -> Image:
    """A 32x32 RGB crop with some structure (the parrot's head)."""
    return crop(sample, 30, 90, 32, 32)


def load_script(path: Path) -> ModuleType:
    """A script of benchmarks/ or scripts/ (not a package) imported as a module, to test its
    functions."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def assert_decodes_alike_with_three_threads(data: bytes, tmp_path: Path) -> None:
    """The file decodes to the same pixels in a fresh process with 3 threads as here."""
    import inrcodec

    path = tmp_path / "x.inr"
    path.write_bytes(data)
    mine = hashlib.sha256(inrcodec.decode(data).data.numpy().tobytes()).hexdigest()
    code = ("import hashlib, sys, torch, inrcodec; torch.set_num_threads(3); "
            "d = inrcodec.decode(open(sys.argv[1], 'rb').read()); "
            "print(hashlib.sha256(d.data.numpy().tobytes()).hexdigest(), "
            "torch.get_num_threads())")
    env = dict(os.environ, OMP_NUM_THREADS="3", MKL_NUM_THREADS="3",
               PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run([sys.executable, "-c", code, str(path)], env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout.split()
    assert out == [mine, "3"]


def assert_truncations_refused(data: bytes, pieces: int) -> None:
    """Every cut of the file (`pieces` of them) is a DecodeError."""
    import inrcodec
    from inrcodec.errors import DecodeError

    for cut in range(0, len(data), max(1, len(data) // pieces)):
        with pytest.raises(DecodeError):
            inrcodec.decode(data[:cut])


def assert_corrupt_sections_refused(codec, data: bytes, cuts: int, flips: int):
    """Bypass the container's CRC: truncated and bit-flipped copies of each section (h, w, l)
    go straight into the codec's decode, which raises DecodeError or, for a flip in data it
    never uses, gives the same image; a missing section is refused. Returns (codec settings,
    container) for further checks."""
    from inrcodec.coding import container
    from inrcodec.errors import DecodeError

    c = container.unpack(data)
    settings = codec.settings_from_config(c.config)
    cpu = torch.device("cpu")
    ref = codec.decode(settings, c.sections, c.image, device=cpu)
    gen = torch.Generator().manual_seed(1)
    for name in ("h", "w", "l"):
        for bad in damaged(c.sections[name], cuts, flips, gen):
            try:
                out = codec.decode(settings, {**c.sections, name: bad}, c.image, device=cpu)
            except DecodeError:
                continue
            assert torch.equal(out, ref), name  # a flip the data never used
    with pytest.raises(DecodeError):
        codec.decode(settings, {"h": c.sections["h"], "w": c.sections["w"]}, c.image,
                     device=cpu)
    return settings, c


def damaged(body: bytes, cuts: int, flips: int, gen: torch.Generator) -> list[bytes]:
    """Truncations of a section (`cuts` of them) and `flips` copies with one random bit flipped."""
    trials = [body[:n] for n in range(0, len(body), max(1, len(body) // cuts))]
    for _ in range(flips):
        b = bytearray(body)
        i = int(torch.randint(len(b), (1,), generator=gen))
        b[i] ^= 1 << int(torch.randint(8, (1,), generator=gen))
        trials.append(bytes(b))
    return trials
