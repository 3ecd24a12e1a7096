"""The result store under kill -9 in the middle of its writes: a writer process saving rows
(each with ~300 KB of artifacts, then its SQLite row) is SIGKILLed at random moments and
restarted, skipping what is done, as a resumed benchmark does. No row reported finished is ever
lost, no job is written twice, and the database stays intact.

The writer paces itself (a short sleep after each reported row) so that a kill after at most
KILL_AFTER_S always finds it alive however fast the machine's disk is: a run-time property of
the test, not of the store."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

WRITER = r"""
import os, sys, time
from inrcodec.bench.grid import Job
from inrcodec.bench.images import ImageRef
from inrcodec.bench.job import Outcome
from inrcodec.bench.store import Store

db, n, pace = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
store = Store(db)
done = store.statuses()
run = store.start_run("crash test", {}, "host", "local", n, n - len(done))
print("ready", flush=True)
for i in range(n):
    job = Job("baseline", ImageRef(f"img{i}.png", f"img{i}"), "sha", "webp", "", "",
              (("quality", i),), (), 0, "cpu", False)
    if job.job_id in done:
        continue
    row = {"bytes": 200_000, "pid": os.getpid(), "finished_at": repr(time.time())}
    store.save(job, Outcome(job.job_id, "done", row, os.urandom(200_000), "bin",
                            os.urandom(100_000)), run)
    print(job.job_id, flush=True)
    time.sleep(pace)
store.finish_run(run, n, 0)
"""
N = 60
PACE_S = 0.01
KILL_AFTER_S = (0.01, 0.1)  # at most 10 paced rows per kill: six kills leave rows to do


def rows(db):
    con = sqlite3.connect(db, timeout=30)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {r[0]: r[1:] for r in con.execute(
            "SELECT job_id, pid, finished_at, encoded_path, decoded_path FROM results")}
    finally:
        con.close()


def test_kill_9_during_writes_loses_no_finished_row_and_duplicates_none(tmp_path):
    db = tmp_path / "r.sqlite"
    rng = random.Random(0)
    printed: list[tuple[str, int]] = []  # (job_id, pid of the writer that finished it)
    kills = 0
    for _ in range(40):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(N), str(PACE_S)],
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        killed = False
        if kills < 6:
            time.sleep(rng.uniform(*KILL_AFTER_S))
            killed = p.poll() is None
            if killed:
                os.kill(p.pid, signal.SIGKILL)
                kills += 1
        lines = p.stdout.read().split()
        p.wait()
        printed += [(job_id, p.pid) for job_id in lines]
        after = rows(db)
        for job_id, pid in printed:  # every row a writer reported finished is there, its own
            assert job_id in after and after[job_id][0] == pid
        if not killed:
            assert p.returncode == 0
            break
    assert kills >= 3, "the writer finished before it could be killed enough times"
    final = rows(db)
    ids = [job_id for job_id, _ in printed]
    assert len(ids) == len(set(ids)), "a job was written twice"
    assert len(final) == N  # every job once (a row committed just before a kill, unreported,
    assert set(ids) <= set(final)  # is found by the next writer and not redone)
    art = tmp_path / "r.sqlite.artifacts"
    for _, _, enc, dec in final.values():
        assert (art / enc).stat().st_size == 200_000 and (art / dec).stat().st_size == 100_000
    # a kill may leave a temporary file behind (".name.XXXX.tmp"), never a half-written one
    # under an artifact's name
    for f in art.rglob("*"):
        if f.is_file() and not f.name.startswith("."):
            assert f.stat().st_size in (200_000, 100_000), f
