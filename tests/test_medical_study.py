"""The SINCO study as a bench spec, end to end on a tiny synthetic case (seconds, not the real
run): NIfTI slices with labels as the image source, the sinco loss term bound to each slice's
labels, the Dice task metric, JPEG 2000 rate-matched, one store, the report, the overlays."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import ROOT
from inrcodec.bench.executors import LocalExecutor
from inrcodec.bench.grid import expand
from inrcodec.bench.report import write_report
from inrcodec.bench.runner import run_grid
from inrcodec.bench.spec import load_spec
from inrcodec.bench.store import Store
from inrcodec.cli import app

TINY = "steps = 3, lr = 1e-3"


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> tuple[Path, Path]:
    """fla + seg volumes, 48x48x3, a lesion on slices 0 and 1."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    vol = np.zeros((48, 48, 3), np.int16)
    seg = np.zeros((48, 48, 3), np.uint8)
    for k in range(3):
        brain = ((yy - 24) ** 2 + (xx - 24) ** 2) < 400
        lesion = (((yy - 20) ** 2 + (xx - 28 - k) ** 2) < 30 + 10 * k) & (k < 2)
        vol[:, :, k] = brain * (300 + rng.normal(0, 10, brain.shape)) + lesion * 400 - 20
        seg[:, :, k] = lesion
    d = tmp_path_factory.mktemp("case") / "tiny"
    d.mkdir()
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(d / "fla.nii.gz"))
    nib.save(nib.Nifti1Image(seg, np.eye(4)), str(d / "seg.nii.gz"))
    return d / "fla.nii.gz", d / "seg.nii.gz"


def write_spec(tmp_path: Path, fla: Path, seg: Path) -> Path:
    spec = tmp_path / "sinco.toml"
    spec.write_text(f"""
name = "sinco-tiny"
lpips = false
device = "cpu"
metrics = ["dice"]
[[images]]
path = "{fla}"
labels = "{seg}"
slices = "largest:2"
[[codecs]]
name = "siren"
label = "COIN"
settings = {{ layers = 2, width = 8, {TINY} }}
losses = ["mse"]
[[codecs]]
name = "pe-mlp"
label = "SINCO (INR)"
settings = {{ layers = 2, width = 8, bands = 3, skips = [], {TINY} }}
losses = ["mse+0.0004340277777777778*sinco"]
[[baselines]]
name = "jpeg2000"
target_bpp = [2.0]
""")
    return spec


def test_sinco_spec_runs_resumes_and_reports(case, tmp_path):
    fla, seg = case
    spec = load_spec(write_spec(tmp_path, fla, seg))
    jobs = expand(spec)
    # the two largest lesions are on slices 1 then 0; slice 2 has none
    assert sorted({j.image.slice for j in jobs}) == [0, 1] and len(jobs) == 2 * 3
    db = tmp_path / "r.sqlite"
    with Store(db) as store:
        summary = run_grid(jobs, store, LocalExecutor(1), progress=False)
        assert summary.failed == 0, summary.errors
        rows = store.rows("done")
        again = run_grid(expand(spec), store, LocalExecutor(1), progress=False)
    assert again.done == 0 and again.skipped == len(jobs)  # resumable: nothing reruns
    assert {r["curve"] for r in rows} == {"COIN|mse", "SINCO (INR)|"
                                          "mse+0.0004340277777777778*sinco", "jpeg2000"}
    for r in rows:
        dice = json.loads(r["task_metrics_json"])["dice"]
        assert 0.0 <= dice <= 1.0 and r["psnr"] > 5 and r["bpp"] > 0
    j2k = [r for r in rows if r["codec"] == "jpeg2000"]
    assert all(r["bpp"] <= 2.0 for r in j2k)  # rate-matched: the best quality under the target
    assert all(json.loads(r["settings_json"])["target_bpp"] == 2.0 for r in j2k)
    index = write_report(db, tmp_path / "report")
    page = index.read_text()
    assert "Dice (U-Net vs labels)" in page and "SINCO (INR)" in page
    curves = (tmp_path / "report" / "curves.csv").read_text()
    assert "dice" in curves.splitlines()[0]
    # the figures have a Dice panel and, the spec measuring no LPIPS, no empty LPIPS panel
    svgs = [p.read_text() for p in (tmp_path / "report" / "figures").glob("rd_*.svg")]
    assert svgs and all("Dice (U-Net vs labels)" in t and "LPIPS" not in t for t in svgs)
    # Fig. 3: overlays of every method on one slice, from the decoded files the run kept
    name = rows[0]["image"]
    out = tmp_path / "fig3.png"
    r = CliRunner().invoke(app, ["medical", "overlays", str(db), "--image", name, "-o",
                                 str(out)])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 1000
    # the export is the committed form: report it without the database
    r = CliRunner().invoke(app, ["export", str(db), "-o", str(tmp_path / "e.json")])
    assert r.exit_code == 0, r.output
    index = write_report(tmp_path / "e.json", tmp_path / "report2")
    assert "SINCO (INR)" in index.read_text()


@pytest.mark.parametrize("spec", sorted((ROOT / "benchmarks" / "specs").glob("sinco-*.toml")))
def test_committed_sinco_specs_expand(spec):
    if not (ROOT.parent / "shared" / "data" / "mri").is_dir():
        pytest.skip("shared MRI data not found")
    jobs = expand(load_spec(spec))
    assert jobs and all(j.image.labels for j in jobs)


def test_medical_cli_errors(tmp_path):
    runner = CliRunner()
    for args, msg in (
            (["medical", "train-unet", "--split", str(tmp_path / "none.json")], "no such split"),
            (["medical", "train-unet", "--init", str(tmp_path / "none.npz")], "no such"),
            (["medical", "segment", str(tmp_path / "v.nii.gz"), "--slice", "0"], "no such")):
        r = runner.invoke(app, args)
        text = " ".join(r.output.split())
        assert r.exit_code == 2, (args, text)
        assert msg in text, (args, text)
