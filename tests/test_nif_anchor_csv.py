"""scripts/nif_anchor_csv.py: the NIF anchor's CSV from a result store, on known rows."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "nif_anchor_csv.py"


def test_rows_means_and_both_reference_rates(tmp_path):
    rows = [{"job_id": f"j{i}", "kind": "inr", "status": "done", "image": f"kodim0{i}@1/2",
             "variant": "fork-x2-120", "bpp": bpp, "payload_bpp": bpp - 0.01, "psnr": psnr,
             "msssim": ms,
             "msssim_db": -10 * math.log10(1 - ms), "lpips": 0.05, "encode_seconds": 600.0,
             "loss": "lcssim", "seed": 0}
            for i, (bpp, psnr, ms) in enumerate([(1.2, 30.0, 0.96), (1.4, 34.0, 0.98)], 1)]
    rows.append({"job_id": "b", "kind": "baseline", "status": "done", "image": "kodim01@1/2"})
    (tmp_path / "s.json").write_text(json.dumps({"format": "inrcodec-results", "schema": 1,
                                                 "runs": [], "results": rows}))
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "s.json"), "-o",
                    str(tmp_path / "a.csv")], check=True, capture_output=True)
    with open(tmp_path / "a.csv") as fh:
        got = list(csv.reader(fh))
    assert got[0][:5] == ["image", "preset", "bpp", "payload_bpp", "psnr"] and len(got) == 5
    assert got[1][0] == "kodim01@1/2" and got[2][0] == "kodim02@1/2"
    # the mean row: bpp and PSNR averaged, MS-SSIM dB of the mean MS-SSIM (0.97 -> 15.229)
    assert got[3][:6] == ["mean of 2", "", "1.3000", "1.2900", "32.000", "15.229"]
    assert got[4][2:4] == ["1.3288", "1.2399"]  # the fork's file and state-only bpp


def test_missing_values_are_blank_not_a_crash(tmp_path):
    row = {"job_id": "j", "kind": "inr", "status": "done", "image": "kodim01@1/2",
           "variant": "fork-x2-120", "bpp": 1.2, "payload_bpp": None, "psnr": 30.0,
           "msssim": None, "msssim_db": None, "lpips": None, "encode_seconds": 600.0,
           "loss": "lcssim", "seed": 0}
    (tmp_path / "s.json").write_text(json.dumps({"format": "inrcodec-results", "schema": 1,
                                                 "runs": [], "results": [row]}))
    r = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "s.json"), "-o",
                        str(tmp_path / "a.csv")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "a.csv") as fh:
        got = list(csv.reader(fh))
    assert got[1][:7] == ["kodim01@1/2", "fork-x2-120", "1.2000", "", "30.000", "", ""]
    assert got[2][:5] == ["mean of 1", "", "1.2000", "", "30.000"]
