"""The result store: one SQLite row per finished job, artifacts on disk by job id.

A job's row is written only once the job is over (done or failed), in one transaction, after
its artifacts have been written atomically; a run killed at any point (kill -9 included)
therefore leaves either the complete row or nothing, and the next run redoes what is missing.
Only the driver process writes: workers return their outcome (see job.py).

While a run holds a job it has handed to a worker, the job has a claim (host, pid): another
run on the same store skips a job whose claim is live, so two runs of overlapping grids
(one per core) split the work instead of running the same job side by side. Claims are
transient and never exported; one left by a killed run goes stale (`CLAIM_TTL`).

`export` writes the whole store (runs and results, artifacts excepted) as one JSON file, the
form results are committed in; `Store.open` reads such an export back (in memory) and
`import_export` loads one into a database, so a committed study can be reported or resumed.

Layout next to the database file DB:

    DB                                  the SQLite database
    DB.artifacts/<job_id>/encoded.<ext> the real file the codec wrote (.inr, .jpg, .webp, ...)
    DB.artifacts/<job_id>/decoded.png   what that file decodes to
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DecodeError
from ..io import write_bytes
from .grid import Job, encode_id, encode_id_of_description
from .job import Outcome

# 2: task_metrics_json; 3: container_version, reused_from (older databases are upgraded in
# place)
SCHEMA_VERSION = 3

# job columns: every setting of the job
JOB_COLUMNS = {
    "job_id": "TEXT PRIMARY KEY", "kind": "TEXT", "image": "TEXT", "image_path": "TEXT",
    "image_sha": "TEXT", "reduce": "INTEGER", "crop": "TEXT", "codec": "TEXT",
    "variant": "TEXT", "architecture": "TEXT", "curve": "TEXT", "loss": "TEXT",
    "rate_json": "TEXT", "quality": "INTEGER", "settings_override_json": "TEXT",
    "seed": "INTEGER", "device": "TEXT", "lpips_requested": "INTEGER", "job_json": "TEXT",
}
# result columns: what the job measured and where it ran
RESULT_COLUMNS = {
    "status": "TEXT", "error": "TEXT", "traceback": "TEXT", "width": "INTEGER",
    "height": "INTEGER", "bytes": "INTEGER", "bpp": "REAL", "payload_bpp": "REAL",
    "psnr": "REAL", "ssim": "REAL", "msssim": "REAL", "msssim_db": "REAL", "lpips": "REAL",
    "encode_seconds": "REAL", "decode_seconds": "REAL", "job_seconds": "REAL",
    "decode_max_diff": "INTEGER", "settings_json": "TEXT", "log_json": "TEXT",
    "device_used": "TEXT", "threads": "INTEGER", "host": "TEXT", "pid": "INTEGER",
    "inrcodec_version": "TEXT", "torch_version": "TEXT", "python_version": "TEXT",
    "codec_version": "TEXT", "started_at": "TEXT", "finished_at": "TEXT", "run_id": "INTEGER",
    "encoded_path": "TEXT", "decoded_path": "TEXT", "task_metrics_json": "TEXT",
    # the container format of the .inr file whose size `bytes` counts: a row keeps it when its
    # file stays behind (an export), so a resumed grid knows its header without the file
    "container_version": "INTEGER",
    # the job whose encode this row copies (the same settings under another curve label)
    "reused_from": "TEXT",
}
COLUMNS = {**JOB_COLUMNS, **RESULT_COLUMNS}

# A claim older than this is stale whatever its process: processes on another host cannot be
# checked, and a pid reused on this host must not hold a job for ever. Longer than any job.
CLAIM_TTL = _dt.timedelta(hours=24)


def job_columns(job: Job) -> dict[str, Any]:
    rate = job.rate_dict()
    return {
        "job_id": job.job_id, "kind": job.kind, "image": job.image.name,
        "image_path": job.image.path, "image_sha": job.image_sha, "reduce": job.image.reduce,
        "crop": json.dumps(list(job.image.crop)) if job.image.crop else None,
        "codec": job.codec, "variant": job.variant, "architecture": job.architecture,
        "curve": job.curve, "loss": job.loss,
        "rate_json": json.dumps(rate, sort_keys=True, default=str),
        "quality": rate.get("quality") if job.kind == "baseline" else None,
        "settings_override_json": json.dumps(job.settings_dict(), sort_keys=True, default=str),
        "seed": job.seed, "device": job.device, "lpips_requested": int(job.lpips),
        "job_json": json.dumps(job.describe(), sort_keys=True, default=str),
    }


class Store:
    def __init__(self, path: str | os.PathLike, *, create: bool = True,
                 source: Path | None = None) -> None:
        memory = str(path) == ":memory:"
        # an in-memory store reports artifacts next to the export it was loaded from
        self.path = Path(source) if memory and source is not None else Path(path)
        if not memory and not create and not self.path.is_file():
            raise ConfigError(f"{self.path}: no such results database")
        if not memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(":memory:" if memory else self.path, timeout=60)
            self.conn.row_factory = sqlite3.Row
            if not memory:
                self.conn.execute("PRAGMA journal_mode=WAL")  # readers never block the run
                self.conn.execute("PRAGMA synchronous=FULL")
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path}: not a results database ({exc})") from None

    @property
    def artifacts_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".artifacts")

    def _init_schema(self) -> None:
        cols = ", ".join(f"{k} {v}" for k, v in COLUMNS.items())
        with self.conn:
            self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row and int(row[0]) > SCHEMA_VERSION:
                raise ConfigError(f"{self.path}: results schema {row[0]}, this inrcodec "
                                  f"reads up to {SCHEMA_VERSION}")
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS results ({cols})")
            have = {r[1] for r in self.conn.execute("PRAGMA table_info(results)")}
            for name, kind in COLUMNS.items():  # columns added by later schemas
                if name not in have:
                    self.conn.execute(f"ALTER TABLE results ADD COLUMN {name} {kind}")
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)",
                              (str(SCHEMA_VERSION),))
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "started_at TEXT, finished_at TEXT, command TEXT, spec_json TEXT, host TEXT, "
                "executor TEXT, jobs_total INTEGER, jobs_todo INTEGER, jobs_done INTEGER, "
                "jobs_failed INTEGER)")
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS claims (job_id TEXT PRIMARY KEY, host TEXT, "
                "pid INTEGER, run_id INTEGER, claimed_at TEXT)")

    # -- runs --------------------------------------------------------------------------------
    def start_run(self, command: str, spec: dict[str, Any], host: str, executor: str,
                  total: int, todo: int) -> int:
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO runs (started_at, command, spec_json, host, executor, jobs_total, "
                "jobs_todo) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_now(), command, json.dumps(spec, sort_keys=True, default=str), host, executor,
                 total, todo))
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, done: int, failed: int) -> None:
        with self.conn:
            self.conn.execute("UPDATE runs SET finished_at=?, jobs_done=?, jobs_failed=? "
                              "WHERE run_id=?", (_now(), done, failed, run_id))

    def runs(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM runs ORDER BY run_id")]

    # -- results -----------------------------------------------------------------------------
    def statuses(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.conn.execute("SELECT job_id, status FROM results")}

    def status(self, job_id: str) -> str | None:
        """The job's status now (None: no row), read again from the database."""
        row = self.conn.execute("SELECT status FROM results WHERE job_id=?", (job_id,)).fetchone()
        return row[0] if row else None

    # -- claims ------------------------------------------------------------------------------
    def claim(self, job_id: str, run_id: int | None = None) -> bool:
        """Claim the job for this process. False where another process's claim on it is live
        (`claim_is_live`); a stale claim is taken over. The check and the write are one
        transaction, so two runs cannot both claim a job."""
        me = (socket.gethostname(), os.getpid())
        with self.conn:
            self.conn.execute("INSERT OR IGNORE INTO claims VALUES (?, ?, ?, ?, ?)",
                              (job_id, *me, run_id, _now()))
            row = self.conn.execute("SELECT host, pid, claimed_at FROM claims WHERE job_id=?",
                                    (job_id,)).fetchone()
            holder = (row["host"], row["pid"])
            if holder != me and claim_is_live(*holder, row["claimed_at"]):
                return False
            self.conn.execute("UPDATE claims SET host=?, pid=?, run_id=?, claimed_at=? "
                              "WHERE job_id=?", (*me, run_id, _now(), job_id))
            return True

    def claims(self) -> dict[str, dict[str, Any]]:
        """Job id -> its claim (host, pid, run_id, claimed_at), live or stale."""
        return {r["job_id"]: dict(r) for r in self.conn.execute("SELECT * FROM claims")}

    def live_claims(self) -> set[str]:
        """The jobs some process holds a live claim on (`claim_is_live`)."""
        return {job_id for job_id, c in self.claims().items()
                if claim_is_live(c["host"], c["pid"], c["claimed_at"])}

    def release_claims(self) -> None:
        """Drop this process's claims (a run's end: jobs it claimed but never ran)."""
        with self.conn:
            self.conn.execute("DELETE FROM claims WHERE host=? AND pid=?",
                              (socket.gethostname(), os.getpid()))

    def save(self, job: Job, outcome: Outcome, run_id: int | None = None) -> None:
        """Artifacts first (atomic files), then the row in one transaction."""
        row = job_columns(job)
        row.update({k: v for k, v in outcome.row.items() if k in RESULT_COLUMNS})
        row.update(status=outcome.status, run_id=run_id, encoded_path=None, decoded_path=None)
        if outcome.status == "done":
            folder = self.artifacts_dir / job.job_id
            folder.mkdir(parents=True, exist_ok=True)
            if outcome.encoded is not None:
                name = f"encoded.{outcome.encoded_ext}"
                write_bytes(folder / name, outcome.encoded)
                row["encoded_path"] = f"{job.job_id}/{name}"
                if job.kind == "inr":
                    row["container_version"] = _container_version(outcome.encoded)
            if outcome.decoded_png is not None:
                write_bytes(folder / "decoded.png", outcome.decoded_png)
                row["decoded_path"] = f"{job.job_id}/decoded.png"
        names = list(COLUMNS)
        sql = (f"INSERT OR REPLACE INTO results ({', '.join(names)}) "
               f"VALUES ({', '.join('?' for _ in names)})")
        with self.conn:
            self.conn.execute(sql, [row.get(k) for k in names])
            self.conn.execute("DELETE FROM claims WHERE job_id=?", (job.job_id,))

    def reusable(self, jobs: Sequence[Job]) -> dict[str, dict[str, Any]]:
        """Job id -> the finished row of the same encode under another label (the same
        settings, image and seed: `grid.encode_id`), for the jobs that have one."""
        wanted: dict[str, list[Job]] = {}
        for job in jobs:
            wanted.setdefault(encode_id(job), []).append(job)
        found: dict[str, dict[str, Any]] = {}
        for row in self.conn.execute("SELECT * FROM results WHERE status='done' AND "
                                     "job_json IS NOT NULL ORDER BY job_id"):
            try:
                key = encode_id_of_description(json.loads(row["job_json"]))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a row from an older schema that does not describe its job
            for job in wanted.pop(key, []):
                found[job.job_id] = dict(row)
        return found

    def reuse_encodes(self, jobs: Sequence[Job]) -> int:
        """Give each job whose encode is already done here under another label a copy of
        that row (`reusable`), its files copied too where they are here, instead of running
        it again; the copy names its source in `reused_from`. Encodes are deterministic, so
        the copy is what a rerun would give. Returns the number of jobs given a row."""
        by_id = {job.job_id: job for job in jobs}
        names = list(COLUMNS)
        sql = (f"INSERT OR REPLACE INTO results ({', '.join(names)}) "
               f"VALUES ({', '.join('?' for _ in names)})")
        found = self.reusable(jobs)
        for job_id, source in found.items():
            job = by_id[job_id]
            row = {k: source.get(k) for k in RESULT_COLUMNS}
            row.update(job_columns(job), reused_from=source["job_id"])
            for column in ("encoded_path", "decoded_path"):
                path = self.artifact(source[column])
                row[column] = None
                if path is not None and path.is_file():
                    rel = f"{job_id}/{path.name}"
                    (self.artifacts_dir / job_id).mkdir(parents=True, exist_ok=True)
                    write_bytes(self.artifacts_dir / rel, path.read_bytes())
                    row[column] = rel
            with self.conn:
                self.conn.execute(sql, [row.get(k) for k in names])
        return len(found)

    def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        if status is None:
            cur = self.conn.execute("SELECT * FROM results ORDER BY curve, image, rate_json")
        else:
            cur = self.conn.execute("SELECT * FROM results WHERE status=? "
                                    "ORDER BY curve, image, rate_json", (status,))
        return [dict(r) for r in cur]

    def artifact(self, rel: str | None) -> Path | None:
        return None if not rel else self.artifacts_dir / rel

    def repack_inr_files(self) -> tuple[int, int, int]:
        """Rewrite the stored .inr files of an older container format in the current one and
        their rows' bytes and bpp with them (the payload, and so the pixels, are unchanged),
        so that a resumed grid compares files of one format. Returns (files rewritten, bytes
        saved, done .inr rows whose file is not here and whose row does not record the
        current format: their bytes may count an older header)."""
        from ..coding.container import FORMAT_VERSION, repack

        done = self.conn.execute(
            "SELECT job_id, encoded_path, bytes, bpp, container_version FROM results "
            "WHERE status='done' AND kind='inr'").fetchall()
        rewritten, saved, missing = 0, 0, 0
        for job_id, rel, nbytes, bpp, version in done:
            path = self.artifact(rel)
            if path is None or not path.is_file():
                if version is None or version < FORMAT_VERSION:
                    missing += 1
                continue
            with open(path, "rb") as fh:  # the version byte first: most files are current
                head = fh.read(5)
            if len(head) < 5 or head[4] >= FORMAT_VERSION:
                if len(head) == 5 and version != head[4]:  # a row saved before schema 3
                    with self.conn:
                        self.conn.execute("UPDATE results SET container_version=? "
                                          "WHERE job_id=?", (head[4], job_id))
                continue
            data = path.read_bytes()
            try:
                new = repack(data)
            except DecodeError as exc:
                raise DecodeError(f"stored file {path} of job {job_id}: {exc}") from None
            write_bytes(path, new)
            with self.conn:
                self.conn.execute("UPDATE results SET bytes=?, bpp=?, container_version=? "
                                  "WHERE job_id=?",
                                  (len(new), bpp * len(new) / nbytes if nbytes else bpp,
                                   _container_version(new), job_id))
            rewritten += 1
            saved += len(data) - len(new)
        return rewritten, saved, missing

    # -- export ------------------------------------------------------------------------------
    def export(self) -> dict[str, Any]:
        """Runs and result rows as one JSON-serialisable object (artifacts stay on disk)."""
        return {"format": "inrcodec-results", "schema": SCHEMA_VERSION, "runs": self.runs(),
                "results": [dict(r) for r in self.conn.execute(
                    "SELECT * FROM results ORDER BY curve, image, rate_json, seed")]}

    def import_rows(self, exported: dict[str, Any]) -> int:
        """Add an export's runs and rows (a row already here by job id is kept); returns the
        number of rows added."""
        if not isinstance(exported, dict) or exported.get("format") != "inrcodec-results":
            raise ConfigError("not an inrcodec results export")
        have = set(self.statuses())
        run_ids: dict[Any, int] = {}
        added = 0
        with self.conn:
            for run in exported.get("runs", []):
                cols = [k for k in run if k != "run_id"]
                cur = self.conn.execute(
                    f"INSERT INTO runs ({', '.join(cols)}) VALUES "
                    f"({', '.join('?' for _ in cols)})", [run[k] for k in cols])
                run_ids[run.get("run_id")] = int(cur.lastrowid)
            for row in exported.get("results", []):
                if row.get("job_id") in have:
                    continue
                row = {k: v for k, v in row.items() if k in COLUMNS}
                row["run_id"] = run_ids.get(row.get("run_id"))
                names = list(row)
                self.conn.execute(f"INSERT INTO results ({', '.join(names)}) VALUES "
                                  f"({', '.join('?' for _ in names)})", [row[k] for k in names])
                added += 1
        return added

    @classmethod
    def open(cls, path: str | os.PathLike) -> Store:
        """An existing database, or a JSON export loaded into memory (read-only use)."""
        p = Path(path)
        if p.suffix.lower() != ".json":
            return cls(p, create=False)
        try:
            exported = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{p}: not a results export ({exc})") from None
        store = cls(":memory:", source=p)
        store.import_rows(exported)
        return store

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _container_version(data: bytes) -> int | None:
    """The format version byte of an .inr file (after the 4-byte magic); None if too short."""
    return data[4] if len(data) > 4 else None


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def claim_is_live(host: str, pid: int, claimed_at: str) -> bool:
    """Whether a claim still stands: younger than CLAIM_TTL and, on this host, its process
    still running (on another host the age alone decides)."""
    try:
        age = _dt.datetime.now(_dt.UTC) - _dt.datetime.fromisoformat(claimed_at)
    except (TypeError, ValueError):
        return False
    if age > CLAIM_TTL:
        return False
    if host != socket.gethostname() or os.name != "posix":
        return True  # Windows' os.kill(pid, 0) would send the process CTRL_C_EVENT
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
