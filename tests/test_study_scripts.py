"""benchmarks/study_remaining.sh and study_snapshot.sh (issue 17's lanes and their committed
results): usage errors, and a snapshot of small stores into a scratch results folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
# the scripts default to the checkout's .venv; the tests use the interpreter running them
TOOLS = {"PYTHON": sys.executable, "INRCODEC": str(Path(sys.executable).parent / "inrcodec")}


def _run(script: str, *args: str, env: dict[str, str] | None = None, cwd=None):
    return subprocess.run(["bash", str(BENCH / script), *args], capture_output=True, text=True,
                          env={**os.environ, **TOOLS, **(env or {})}, cwd=cwd, timeout=600)


def test_usage_errors_exit_2(tmp_path):
    for script, args in (("study_remaining.sh", ()), ("study_remaining.sh", ("x", str(tmp_path))),
                         ("study_snapshot.sh", ()), ("study_snapshot.sh", (str(tmp_path / "no"),))):
        r = _run(script, *args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (script, args, r.stderr)


def _store(export, rows, db):
    """A database holding the first `rows` rows of a committed export (None: all)."""
    data = json.loads(export.read_text())
    data["results"] = data["results"][:rows]
    db.parent.mkdir(parents=True)
    small = db.with_suffix(".json")
    small.write_text(json.dumps(data))
    subprocess.run([TOOLS["INRCODEC"], "import", str(small), "--db", str(db)], check=True,
                   capture_output=True)


def test_snapshot_writes_every_result_from_the_stores(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "results"
    # every row: the export is ordered by job id, so any prefix drops whole codecs (NIF)
    _store(RESULTS / "study-kodak6-half" / "study.store.json", None,
           runs / "study-kodak6-half" / "results.sqlite")
    _store(RESULTS / "nif-kodak24-half.store.json", 3, runs / "nif-kodak24-half" / "results.sqlite")
    r = _run("study_snapshot.sh", str(runs), env={"RESULTS": str(out)})
    assert r.returncode == 0, r.stderr
    study = out / "study-kodak6-half"
    for name in ("study.store.json", "results.csv", "findings.csv", "report/index.html",
                 "report/curves.csv"):
        assert (study / name).stat().st_size > 0, name
    assert (study / "findings.csv").read_text().startswith("claim,statement,verdict,numbers")
    page = (study / "report" / "index.html").read_text()
    assert "The loss study's claims" in page and "<b>not reproduced</b>" in page  # C3
    assert (out / "nif_kodak24-half.csv").read_text().count("\n") == 1 + 3 + 2
    # the committed store has NIF, -samelambda and -x2 rows: their tables are written too
    assert "ordered alike" in (study / "nif_loss_ranking.md").read_text()
    assert "| 0.0001 | mse |" in (study / "second_table.md").read_text()
    assert (study / "report" / "longer.csv").read_text().startswith("architecture,test,anchor")
    assert not (out / "forks_side_by_side.md").exists()  # no forks store under RUNS
