"""benchmarks/second_table.py: the loss study's second table (every loss at MSE's lambdas)
from a report's curves.csv and bd.csv, on rows with known answers."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

from conftest import ROOT, load_script

SCRIPT = ROOT / "benchmarks" / "second_table.py"
table = load_script(SCRIPT)
LABEL = table.LABEL


def _write(path, fields, rows) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _report(folder) -> None:
    """Two lambdas; logcosh lands at half MSE's bits with lower quality, l1 at more bits with
    the best PSNR; a main-spec curve and a baseline that must be left out."""
    fields = ["group", "curve", "kind", "architecture", "loss", "rate", "images", "bpp", "psnr",
              "ssim", "msssim", "msssim_db", "lpips"]
    rows = []
    for lmbda, scale in ((0.0005, 1.0), (0.004, 0.25)):
        for loss, bpp, psnr, lpips in (("mse", 2.0, 34.0, 0.020), ("logcosh", 1.0, 31.0, 0.030),
                                       ("l1", 3.0, 37.0, 0.010)):
            rows.append({"group": LABEL, "curve": f"{LABEL}|{loss}", "kind": "inr",
                         "architecture": LABEL, "loss": loss,
                         "rate": json.dumps({"lmbda": lmbda}), "images": 4, "bpp": bpp * scale,
                         "psnr": psnr - 8 * (scale < 1), "ssim": 0.9, "msssim": 0.99,
                         "msssim_db": psnr - 14, "lpips": lpips})
    rows.append({"group": "coolchic-v1", "curve": "coolchic-v1|mse", "kind": "inr",
                 "architecture": "coolchic-v1", "loss": "mse", "rate": '{"lmbda": 0.0005}',
                 "images": 4, "bpp": 9, "psnr": 50, "ssim": 1, "msssim": 1, "msssim_db": 40,
                 "lpips": 0.0})
    rows.append({"group": LABEL, "curve": "avif", "kind": "baseline", "architecture": "",
                 "loss": "", "rate": '{"quality": 50}', "images": 4, "bpp": 1, "psnr": 35,
                 "ssim": 0.9, "msssim": 0.99, "msssim_db": 20, "lpips": 0.02})
    _write(folder / "curves.csv", fields, rows)
    bd = [{"architecture": LABEL, "metric": "psnr", "loss": "logcosh", "anchor": "mse",
           "bd_rate": -4.0, "bd_metric": 0.2, "overlap": 0.8, "method": "akima"},
          {"architecture": LABEL, "metric": "psnr", "loss": "l1", "anchor": "mse",
           "bd_rate": 12.5, "bd_metric": -0.5, "overlap": 0.3, "method": "akima"},
          {"architecture": LABEL, "metric": "lpips", "loss": "l1", "anchor": "mse",
           "bd_rate": "nan", "bd_metric": "nan", "overlap": 0.0, "method": "akima"},
          {"architecture": LABEL, "metric": "psnr", "loss": "l1", "anchor": "avif",
           "bd_rate": 99.0, "bd_metric": -3, "overlap": 1.0, "method": "akima"},
          # the main spec's curves: logcosh keeps its sign, l1 flips in PSNR, l1's LPIPS is
          # measured there only
          {"architecture": table.MAIN, "metric": "psnr", "loss": "logcosh", "anchor": "mse",
           "bd_rate": -1.5, "bd_metric": 0.1, "overlap": 0.9, "method": "akima"},
          {"architecture": table.MAIN, "metric": "psnr", "loss": "l1", "anchor": "mse",
           "bd_rate": -3.0, "bd_metric": 0.1, "overlap": 0.9, "method": "akima"},
          {"architecture": table.MAIN, "metric": "lpips", "loss": "l1", "anchor": "mse",
           "bd_rate": 7.0, "bd_metric": 0.0, "overlap": 0.9, "method": "akima"}]
    _write(folder / "bd.csv", list(bd[0]), bd)


def test_each_lambda_lists_every_loss_with_its_bits_against_mse(tmp_path):
    _report(tmp_path)
    text = table.report(table.points(tmp_path / "curves.csv"),
                        table.bd_rates(tmp_path / "bd.csv"))
    lines = [line for line in text.splitlines() if line.startswith("| 0.0005 |")]
    assert [line.split(" | ")[1] for line in lines] == ["mse", "l1", "logcosh"]
    assert "| 0.0005 | logcosh | 1.000 | -50.0 % | 31.00 |" in text
    assert "| 0.0005 | l1 | 3.000 | +50.0 % | **37.00** | **23.00** | **0.0100** |" in text
    assert "Means over 4 image(s)" in text and "| 9.000 |" not in text  # other groups left out
    assert "| 0.004 | mse | 0.500 |  | 26.00 |" in text


def test_bd_rates_against_mse_only_with_their_overlap(tmp_path):
    _report(tmp_path)
    text = table.report(table.points(tmp_path / "curves.csv"),
                        table.bd_rates(tmp_path / "bd.csv"))
    assert "| logcosh | -4.0 % | no overlap | no overlap |" in text
    assert "| l1 | +12.5 % (over 30% of the range) | no overlap | no overlap |" in text
    assert "+99" not in text  # against AVIF: not this table's anchor


def test_each_bd_rate_beside_the_main_spec_and_the_signs_counted(tmp_path):
    _report(tmp_path)
    bds = table.bd_rates(tmp_path / "bd.csv")
    main = table.bd_rates(tmp_path / "bd.csv", table.MAIN)
    assert table.agreement(bds, main) == (1, 2, ["l1 psnr"])
    text = table.report(table.points(tmp_path / "curves.csv"), bds, main=main)
    assert "| logcosh | -4.0 %; main -1.5 % | no overlap; main n/a | no overlap; main n/a |" \
        in text
    assert "| l1 | +12.5 % (over 30% of the range); main -3.0 % | no overlap; main n/a | " \
        "no overlap; main +7.0 % |" in text
    assert "1 of 2 comparisons have the same sign under both protocols; the others: " \
        "l1 psnr." in text
    assert "same sign" not in table.report(table.points(tmp_path / "curves.csv"), bds)


def test_cli_writes_the_file_and_rejects_a_folder_without_a_report(tmp_path):
    _report(tmp_path)
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "-o",
                          str(tmp_path / "t.md")], capture_output=True, text=True, check=True)
    assert (tmp_path / "t.md").read_text() == out.stdout
    bad = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "none")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")
    assert "Traceback" not in bad.stderr
    empty = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--label", "nothing"],
                           capture_output=True, text=True)
    assert empty.returncode == 2 and "no 'nothing' curves yet" in empty.stderr
    no_main = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--main", "nothing",
                              "-o", str(tmp_path / "u.md")], capture_output=True, text=True)
    assert no_main.returncode == 2 and "no BD-rates of 'nothing'" in no_main.stderr
    assert "Traceback" not in no_main.stderr and not (tmp_path / "u.md").exists()
    alone = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--main", ""],
                           capture_output=True, text=True, check=True)
    assert "; main" not in alone.stdout and "same sign" not in alone.stdout
