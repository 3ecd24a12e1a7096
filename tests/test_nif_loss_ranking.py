"""benchmarks/nif_loss_ranking.py: NIF's loss order in a report's curves.csv against the NIF
fork's ablation, on curves with known answers."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

from conftest import ROOT, load_script

SCRIPT = ROOT / "benchmarks" / "nif_loss_ranking.py"
ranking = load_script(SCRIPT)

HIDDEN = {"48": [48, 24, 16, 10], "120": [120, 40, 28, 16], "200": [200, 64, 40, 20]}


def _curves_csv(path, psnr_shift: dict[str, float]) -> None:
    """NIF points at the reference's own values for 120 and 200 (PSNR moved per loss by
    `psnr_shift`), a config 48 the reference does not have, and a Cool-chic row to skip."""
    fields = ["curve", "kind", "architecture", "loss", "rate", "images", "bpp", "psnr",
              "msssim", "msssim_db", "lpips"]
    rows = [{"curve": "coolchic-v1|mse", "kind": "inr", "architecture": "coolchic-v1",
             "loss": "mse", "rate": '{"lmbda": 0.001}', "images": 4, "bpp": 1, "psnr": 30,
             "msssim": 0.9, "msssim_db": 10, "lpips": 0.1}]
    for config in ("120", "200"):
        for loss, (bpp, psnr, ms) in ranking.REFERENCE[config].items():
            rows.append({"curve": f"nif|{loss}", "kind": "inr", "architecture": "nif",
                         "loss": loss, "rate": json.dumps({"hidden": HIDDEN[config]}),
                         "images": 4, "bpp": bpp, "psnr": psnr + psnr_shift.get(loss, 0.0),
                         "msssim": ms, "msssim_db": 10, "lpips": 0.1})
    rows.append({"curve": "nif|nif_l1ssim", "kind": "inr", "architecture": "nif",
                 "loss": "nif_l1ssim", "rate": json.dumps({"hidden": HIDDEN["48"]}),
                 "images": 4, "bpp": 0.3, "psnr": 25, "msssim": 0.9, "msssim_db": 10,
                 "lpips": 0.2})
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def test_the_reference_s_own_numbers_agree_with_it(tmp_path):
    _curves_csv(tmp_path / "curves.csv", {})
    points = ranking.read_points(tmp_path / "curves.csv")
    assert sorted(points, key=int) == ["48", "120", "200"]
    assert "each cell the mean over 4 image(s)" in ranking.report(points)
    assert set(points["48"]) == {"l1ssim"}  # nif_l1ssim reported under the study's name
    text = ranking.report(points)
    # mse and logcosh are a tie in the reference (0.02 dB, 0.0008 MS-SSIM at 120): 5 pairs
    # per metric and configuration count
    assert "PSNR logcosh > mse > lcssim > l1: 5 of 5 separable pairs" in text
    assert "20 of 20 pairs" in text


def test_a_swapped_order_is_counted(tmp_path):
    # L1 lifted above everything in PSNR: its three PSNR pairs flip at both configurations
    _curves_csv(tmp_path / "curves.csv", {"l1": 5.0})
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "curves.csv"), "-o",
                          str(tmp_path / "r.md")], capture_output=True, text=True, check=True)
    assert "14 of 20 pairs" in out.stdout
    assert (tmp_path / "r.md").read_text() == out.stdout


def test_no_nif_curves_is_a_clear_error(tmp_path):
    with open(tmp_path / "curves.csv", "w") as fh:
        fh.write("curve,kind,architecture,loss,rate,images,bpp,psnr,msssim\n")
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "curves.csv")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "no NIF curves yet" in out.stderr


def test_missing_inputs_exit_2_without_traceback(tmp_path):
    for script, args in ((SCRIPT, [tmp_path / "none.csv"]),
                         (ROOT / "benchmarks" / "v2_calibration.py",
                          [tmp_path / "a.sqlite", tmp_path / "b.sqlite"]),
                         (ROOT / "scripts" / "nif_anchor_csv.py",
                          [tmp_path / "a.sqlite", "-o", tmp_path / "out.csv"])):
        out = subprocess.run([sys.executable, str(script), *map(str, args)],
                             capture_output=True, text=True)
        assert out.returncode == 2 and out.stderr.startswith("error: "), script
        assert "Traceback" not in out.stderr
    assert not (tmp_path / "out.csv").exists()
