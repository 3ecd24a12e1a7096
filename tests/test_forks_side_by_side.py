"""benchmarks/forks_side_by_side.py's payload bytes: the coded parameters without the file's
framing, on our golden file and on a pickled state dict shaped like the NIF fork's."""

from __future__ import annotations

import pickle

import numpy as np
import torch

from conftest import ROOT, load_script

fsbs = load_script(ROOT / "benchmarks" / "forks_side_by_side.py")


def test_our_payload_is_the_sections_without_the_container():
    inr = ROOT / "tests" / "golden" / "nif.inr"
    got = fsbs.payload_bytes("nif", "ours", inr)
    from inrcodec.api import info

    assert got == info(inr.read_bytes())["payload_bytes"] < inr.stat().st_size


def test_the_nif_fork_s_payload_counts_values_not_pickle_framing(tmp_path):
    state = {"params": {"net.0.weight": b"\x01" * 300, "net.0.bias": b"\x02" * 20},
             "quant": {"bits": 8, "scale": 0.5, "h": np.float16(1.0)},
             "shape": torch.zeros(3, dtype=torch.float16)}
    path = tmp_path / "compressed.bin"
    path.write_bytes(pickle.dumps(state))
    # 300 + 20 bytes, int and float at 4 each, a float16 scalar 2, a 3-element float16 tensor 6
    assert fsbs.payload_bytes("nif", "fork", path) == 320 + 4 + 4 + 2 + 6 < path.stat().st_size
    assert fsbs.payload_bytes("cc2", "fork", path) is None
