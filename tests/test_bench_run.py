"""The benchmark as a user runs it: a real run killed with SIGKILL and resumed, the report
(rendered in headless Chromium when it is installed), and a grid on a local Ray instance."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image as PILImage

from conftest import ROOT, SAMPLE

ARGS = ["--codec", "siren", "--rate", "layers=2 width=10", "--rate", "layers=3 width=16",
        "--set", "steps=250", "--set", "qat_steps=10", "--loss", "mse,l1", "--baseline",
        "webp,jpeg/420", "--qualities", "20,60", "--no-lpips", "--threads", "1", "-q"]
TOTAL = 2 * (2 * 2) + 2 * (2 * 2)  # images x (rates x losses) + images x (baselines x qualities)


def bench(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "inrcodec.cli", "bench", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, COLUMNS="120"), **kw)


def count(db: Path, where: str = "1") -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute(f"SELECT COUNT(*) FROM results WHERE {where}").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0
    finally:
        con.close()


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """Start a run with 2 workers, SIGKILL its whole process group mid-way, then rerun it."""
    d = tmp_path_factory.mktemp("bench")
    images = d / "images"
    images.mkdir()
    with PILImage.open(SAMPLE) as im:
        im.crop((90, 30, 138, 70)).save(images / "a.png")
        im.crop((20, 60, 68, 100)).save(images / "b.png")
    db = d / "r.sqlite"
    first = bench("--images", images, "--db", db, "--workers", "2", *ARGS,
                  start_new_session=True)
    deadline = time.time() + 120
    while count(db) < 6 and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    killed_at = count(db)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    after_kill = count(db)
    finished = snapshot(db)  # every row the killed run finished, as it left it
    second = bench("--images", images, "--db", db, *ARGS)
    out, err = second.communicate(timeout=300)
    return {"db": db, "dir": d, "images": images, "killed_at": killed_at,
            "after_kill": after_kill, "rc": second.returncode, "stderr": err,
            "first_rc": first.returncode, "finished_before_kill": finished}


def snapshot(db: Path) -> dict[str, tuple]:
    """job_id -> (status, finished_at, run_id, pid, bytes, encoded_path) of every row."""
    con = sqlite3.connect(db, timeout=30)
    try:
        return {r[0]: tuple(r[1:]) for r in con.execute(
            "SELECT job_id, status, finished_at, run_id, pid, bytes, encoded_path FROM results")}
    finally:
        con.close()


def test_sigkill_mid_run_then_resume(resumed):
    db = resumed["db"]
    assert resumed["first_rc"] == -signal.SIGKILL
    assert 6 <= resumed["after_kill"] < TOTAL, "the kill must land mid-run"
    assert resumed["rc"] == 0, resumed["stderr"]
    assert f"{TOTAL - resumed['after_kill']} of {TOTAL} jobs to run" in \
        " ".join(resumed["stderr"].split())
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = [dict(r) for r in con.execute("SELECT * FROM results")]
    assert len(rows) == TOTAL == len({r["job_id"] for r in rows})  # no job twice
    # no finished row lost, none redone: every row the killed run finished is still there,
    # exactly as it was (same run, process, time and file), and the resumed run wrote only
    # the others, once each
    finished = resumed["finished_before_kill"]
    assert len(finished) == resumed["after_kill"]
    after = snapshot(db)
    assert {k: after[k] for k in finished} == finished
    first_run, second_run = {v[2] for v in finished.values()}, {
        after[k][2] for k in after if k not in finished}
    assert len(first_run) == 1 and len(second_run) == 1 and first_run != second_run
    assert sum(1 for v in after.values() if v[2] in second_run) == TOTAL - len(finished)
    art = Path(str(db) + ".artifacts")
    for r in rows:  # every row is whole: status, numbers, artifacts on disk
        assert r["status"] == "done", r["error"]
        assert r["bpp"] > 0 and r["psnr"] > 10 and r["finished_at"] and r["host"]
        assert (art / r["encoded_path"]).stat().st_size == r["bytes"]
        assert (art / r["decoded_path"]).is_file()
        if r["kind"] == "inr":
            assert r["decode_max_diff"] == 0 and r["encoded_path"].endswith(".inr")
    runs = [dict(r) for r in con.execute("SELECT * FROM runs ORDER BY run_id")]
    assert len(runs) == 2 and runs[0]["finished_at"] is None  # the killed run never finished
    assert runs[1]["jobs_done"] == TOTAL - resumed["after_kill"]
    con.close()
    # and a third run has nothing left to do
    third = bench("--images", resumed["images"], "--db", db, *ARGS)
    _, err = third.communicate(timeout=120)
    assert third.returncode == 0 and "nothing to do" in err


def test_bad_input_exits_2_without_traceback(tmp_path):
    p = bench("--images", tmp_path / "missing", "--baseline", "webp", "--db",
              tmp_path / "x.sqlite")
    _, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "Traceback" not in err and "no such image" in err
    p = bench("--images", tmp_path, "--codec", "coolchic-v7", "--db", tmp_path / "x.sqlite")
    _, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "coolchic-v7" in err and "Traceback" not in err


def test_report_files_and_browser_check(resumed, tmp_path):
    out = tmp_path / "report"
    r = subprocess.run([sys.executable, "-m", "inrcodec.cli", "report", resumed["db"], "-o",
                        out], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    page = (out / "index.html").read_text()
    for name in ("rd_siren.png", "rd_siren.svg"):
        assert (out / "figures" / name).stat().st_size > 1000
    for name in ("results.csv", "curves.csv", "bd.csv", "findings.csv", "timing.csv",
                 "bd_per_image.csv", "claims.csv"):
        assert (out / name).stat().st_size > 0
    assert "siren,l1,mse,psnr," in (out / "bd_per_image.csv").read_text()
    claims = (out / "claims.csv").read_text()  # a siren grid cannot speak to the claims
    assert claims.count("inconclusive") == 4 and "C4" in claims
    assert len(list((out / "crops" / "siren").glob("*.png"))) == 1 + 2 + 2  # orig, losses, bases
    assert (out / "results.csv").read_text().count("\n") == TOTAL + 1
    bd_csv = (out / "bd.csv").read_text()
    assert "siren,psnr,l1,mse," in bd_csv and "siren,psnr,l1,webp," in bd_csv
    for text in ("Rate-distortion curves", "Findings", "BD-rate", "Visual comparison",
                 "Timing", "jpeg/420", "webp"):
        assert text in page
    # each loss with what it computes, as the study's readers need to know
    assert "loss study's claims" not in page  # a siren grid speaks to none of them
    assert "<h2>Losses</h2>" in page and "<td>mse</td><td>mean d² (both forks' l2)</td>" \
        in page.replace("&#x27;", "'")
    if shutil.which("chromium") is None:
        pytest.skip("Chromium not installed: browser check skipped")
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_report.py"), out],
                           capture_output=True, text=True, timeout=180)
    assert check.returncode == 0, check.stderr
    (out / "crops" / "siren" / "l1.png").unlink()  # the checker must notice a missing image
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_report.py"), out],
                           capture_output=True, text=True, timeout=180)
    assert check.returncode == 1 and "l1.png" in check.stderr


def test_a_report_from_an_export_reuses_the_crops_of_the_same_rows(resumed, tmp_path):
    """Rows imported elsewhere have no decoded files: `--reuse-crops` shows an earlier report's
    crops of the same row and window, and no crop whose sidecar names another row."""
    cli = [sys.executable, "-m", "inrcodec.cli"]
    first, export = tmp_path / "first", tmp_path / "moved" / "r.json"
    export.parent.mkdir()
    for args in (["report", resumed["db"], "-o", first],
                 ["export", resumed["db"], "-o", export]):
        r = subprocess.run(cli + [str(a) for a in args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    made = sorted(p.name for p in (first / "crops" / "siren").glob("*.png"))
    sidecar = first / "crops" / "siren" / "crops.json"
    ids = json.loads(sidecar.read_text())
    assert sorted(k.replace("/", "_") for k in ids) == \
        sorted(m[:-4] for m in made if m != "original.png")  # file names are slugs

    plain = tmp_path / "plain"  # without the earlier crops: nothing decoded to show
    r = subprocess.run(cli + ["report", str(export), "-o", str(plain)], capture_output=True,
                       text=True)
    assert r.returncode == 0 and not (plain / "crops").exists(), r.stderr

    ids["l1"]["job_id"] = "another row"
    sidecar.write_text(json.dumps(ids))
    again = tmp_path / "again"
    r = subprocess.run(cli + ["report", str(export), "-o", str(again), "--reuse-crops",
                              str(first / "crops")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    kept = sorted(p.name for p in (again / "crops" / "siren").glob("*.png"))
    assert kept == [m for m in made if m != "l1.png"]
    for name in kept:
        assert (again / "crops" / "siren" / name).read_bytes() == \
            (first / "crops" / "siren" / name).read_bytes()
    page = (again / "index.html").read_text()
    assert "crops/siren/mse.png" in page and "crops/siren/l1.png" not in page


@pytest.mark.slow
def test_ray_local_instance_runs_the_same_grid(resumed, tmp_path):
    pytest.importorskip("ray")
    from inrcodec.bench.executors import RayExecutor
    from inrcodec.bench.grid import expand
    from inrcodec.bench.runner import run_grid
    from inrcodec.bench.store import Store
    from inrcodec.cli.bench import build_spec

    spec = build_spec(None, None, images=[str(resumed["images"])], codecs=["siren"],
                      rates=["layers=2 width=10"], sets=["steps=250", "qat_steps=10"],
                      losses=["mse"], baselines=["webp"], qualities="20,60", lpips=False)
    jobs = expand(spec)
    assert len(jobs) == 2 + 4
    ex = RayExecutor(init_kwargs={"num_cpus": 2, "num_gpus": 0})
    with Store(tmp_path / "ray.sqlite") as store:
        s = run_grid(jobs, store, ex, progress=False)
        assert (s.done, s.failed) == (6, 0), s.errors
        ray_rows = {r["job_id"]: r for r in store.rows()}
    con = sqlite3.connect(resumed["db"])
    con.row_factory = sqlite3.Row
    local = {r["job_id"]: dict(r) for r in con.execute("SELECT * FROM results")}
    for job_id, r in ray_rows.items():  # the same job ids, the same bytes as the local run
        assert (r["bytes"], r["psnr"]) == (local[job_id]["bytes"], local[job_id]["psnr"])
        assert r["threads"] == 1
