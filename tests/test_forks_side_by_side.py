"""benchmarks/forks_side_by_side.py: payload bytes (the coded parameters without the file's
framing, on our golden file and on a pickled state dict shaped like the NIF fork's), and a fork's
finished encode reused by the next attempt."""

from __future__ import annotations

import json
import pickle
import sys

import numpy as np
import pytest
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


def test_a_finished_fork_encode_is_reused_and_a_failed_one_is_not(tmp_path):
    work, log = tmp_path / "run", tmp_path / "log.txt"
    work.mkdir()
    counter = tmp_path / "encodes"
    # stands in for a fork's encoder: counts its runs, writes the bitstream
    script = ("import pathlib, sys; c = pathlib.Path(sys.argv[1]); "
              "c.write_text(str(int(c.read_text() or 0) + 1) if c.exists() else '1'); "
              "pathlib.Path(sys.argv[2]).write_bytes(b'x')")
    cmd = [sys.executable, "-c", script, str(counter), str(work / "compressed.bin")]
    assert fsbs.encode_once(cmd, tmp_path, {}, log, work) == {}  # ran now
    marker = json.loads((work / fsbs.ENCODED).read_text())
    assert set(marker) == {"wall_s", "cpu_s"} and marker["wall_s"] >= 0
    assert fsbs.encode_once(cmd, tmp_path, {}, log, work) == marker  # reused, not run
    assert counter.read_text() == "1"

    failing = [sys.executable, "-c", "raise SystemExit(3)"]
    other = tmp_path / "failed"
    other.mkdir()
    with pytest.raises(RuntimeError, match="failed"):
        fsbs.encode_once(failing, tmp_path, {}, log, other)
    assert not (other / fsbs.ENCODED).exists()  # the next attempt encodes again
