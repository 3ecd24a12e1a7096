"""The SINCO study machinery end to end on a tiny synthetic case (seconds, not the real run)."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from inrcodec.cli import app
from inrcodec.medical.datasets import Case
from inrcodec.medical.study import (
    Method,
    paper_methods,
    run_study,
    sizes_for,
    summarise,
    sweep_rows,
    write_outputs,
)


def tiny_case() -> Case:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    vol = np.zeros((48, 48, 2), np.int16)
    seg = np.zeros((48, 48, 2), bool)
    for k in range(2):
        brain = ((yy - 24) ** 2 + (xx - 24) ** 2) < 400
        lesion = ((yy - 20) ** 2 + (xx - 28 - k) ** 2) < 30
        vol[:, :, k] = brain * (300 + rng.normal(0, 10, brain.shape)) + lesion * 400 - 20
        seg[:, :, k] = lesion
    return Case("tiny", "fla", vol, np.eye(4), np.dtype(np.int16), seg, "tiny")


def test_sizes_match_the_paper_rate():
    siren, pemlp = sizes_for(1.2)
    assert siren == {"layers": 4, "width": 37}
    assert pemlp["width"] == 39 and pemlp["bands"] == 7
    params_s = 3 * 37 * 37 + 7 * 37 + 1
    params_p = 2 * 39 * 39 + 34 * 39 + 1
    assert abs(16 * params_s / 240**2 - 1.2) < 0.02 and abs(16 * params_p / 240**2 - 1.2) < 0.02


def test_study_runs_and_reports(tmp_path):
    case = tiny_case()
    tiny = {"steps": 3, "lr": 1e-3}
    methods = [Method("COIN", "siren", 0.0, {"layers": 2, "width": 8} | tiny),
               Method("SINCO (INR)", "pe-mlp", 1.0, {"layers": 2, "width": 8, "bands": 3,
                                                      "skips": ()} | tiny),
               Method("SINCO (INR) lambda=0.5", "pe-mlp", 0.5,
                      {"layers": 2, "width": 8, "bands": 3, "skips": ()} | tiny, group="sweep",
                      reference="g")]
    res = run_study(case, [0, 1], methods, tmp_path, classical=["jpeg2000"],
                    classical_bpps=[2.0], meta={"test": True})
    assert len(res.rows) == 2 * (1 + 1 + len(methods))
    row = next(r for r in res.rows if r["method"] == "SINCO (INR)")
    assert row["bpp_paper"] > 0 and row["bpp"] > 0 and 0 <= row["dice"] <= 1
    assert np.isfinite(row["psnr"]) and 0 < row["ssim"] <= 1
    # resumable: a second call runs nothing new
    again = run_study(case, [0, 1], methods, tmp_path, classical=["jpeg2000"],
                      classical_bpps=[2.0])
    assert len(again.rows) == len(res.rows)
    out = write_outputs(again, tmp_path, 0)
    for name in ("summary.json", "results.csv", "table.md", "dice_vs_bpp.png",
                 "psnr_vs_bpp.png", "fig3_overlays.png"):
        assert (tmp_path / name).is_file(), name
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {s["method"] for s in summary} >= {"Original", "COIN", "jpeg2000 @2"}
    assert [s["lam"] for s in sweep_rows(summarise(again.rows))] == [0.5, 1.0]
    assert "| COIN |" in out["markdown"]


def test_paper_methods_are_table_1():
    labels = [m.label for m in paper_methods(100)]
    assert labels == ["COIN", "Vanilla INR", "SINCO (SIREN)", "SINCO (INR)"]
    assert [m.lam for m in paper_methods(100)] == [0.0, 0.0, 1.0, 1.0]
    low = paper_methods(100, bpp=0.3)
    assert low[0].label == "COIN @0.3" and low[0].group == "rate"


def test_medical_cli_errors(tmp_path):
    runner = CliRunner()
    for args, msg in (
            (["medical", "train-unet", "--train-case", "A", "--test-case", "A"], "test case"),
            (["medical", "train-unet", "--init", str(tmp_path / "none.npz")], "no such"),
            (["medical", "bench", "--data", str(tmp_path), "--reference", "x"], "reference"),
            (["medical", "segment", str(tmp_path / "v.nii.gz"), "--slice", "0"], "no such")):
        r = runner.invoke(app, args)
        text = " ".join(r.output.split())
        assert r.exit_code == 2, (args, text)
        assert msg in text, (args, text)
