"""A result store made before container format 2: resuming it rewrites its .inr files in the
current format and their rows' bytes and bpp, so that one grid never compares two headers."""

from __future__ import annotations

import pytest

import inrcodec
from conftest import ROOT, SAMPLE
from inrcodec.bench.store import Store
from inrcodec.errors import DecodeError

GOLDEN = ROOT / "tests" / "golden"


def test_stored_version_1_files_are_rewritten_with_their_rows(tmp_path):
    old = (GOLDEN / "siren.inr").read_bytes()  # format version 1
    pixels = 24 * 24
    with Store(tmp_path / "r.sqlite") as store:
        rows = [("a", "a/encoded.inr", old), ("b", "b/encoded.inr", None),
                ("c", "c/encoded.jpg", b"\xff\xd8")]
        for job_id, rel, data in rows:
            if data is not None:
                (store.artifacts_dir / job_id).mkdir(parents=True)
                (store.artifacts_dir / rel).write_bytes(data)
            kind = "inr" if rel.endswith(".inr") else "baseline"
            with store.conn:
                store.conn.execute(
                    "INSERT INTO results (job_id, kind, status, encoded_path, bytes, bpp) "
                    "VALUES (?, ?, 'done', ?, ?, ?)",
                    (job_id, kind, rel, len(old), 8 * len(old) / pixels))
        rewritten, saved, missing = store.repack_inr_files()
        new = (store.artifacts_dir / "a" / "encoded.inr").read_bytes()
        assert (rewritten, saved, missing) == (1, len(old) - len(new), 1) and saved > 40
        assert new[4] == 2
        assert inrcodec.decode(new).data.equal(inrcodec.decode(old).data)
        row = {r["job_id"]: r for r in store.rows()}["a"]
        assert row["bytes"] == len(new) and abs(row["bpp"] - 8 * len(new) / pixels) < 1e-12
        assert row["container_version"] == 2
        assert store.repack_inr_files() == (0, 0, 1)  # nothing left to rewrite


def _insert(store, job_id, rel, version=None):
    with store.conn:
        store.conn.execute(
            "INSERT INTO results (job_id, kind, status, encoded_path, bytes, bpp, "
            "container_version) VALUES (?, 'inr', 'done', ?, 100, 1.0, ?)",
            (job_id, rel, version))


def test_a_row_without_its_file_is_flagged_only_when_its_format_is_unknown_or_old(tmp_path):
    """An export leaves the files behind: a row that records the current format is not
    flagged on another machine; one saved before the store recorded formats, or with an older
    one, is."""
    current = (GOLDEN / "siren.inr").read_bytes()
    current = current[:4] + bytes([2]) + current[5:]  # only the version byte is read here
    with Store(tmp_path / "r.sqlite") as store:
        _insert(store, "known", "known/encoded.inr", 2)
        _insert(store, "unknown", "unknown/encoded.inr")
        _insert(store, "older", "older/encoded.inr", 1)
        _insert(store, "filled", "filled/encoded.inr")  # saved before schema 3, file here
        (store.artifacts_dir / "filled").mkdir(parents=True)
        (store.artifacts_dir / "filled" / "encoded.inr").write_bytes(current)
        assert store.repack_inr_files() == (0, 0, 2)
        versions = {r["job_id"]: r["container_version"] for r in store.rows()}
        assert versions == {"known": 2, "unknown": None, "older": 1, "filled": 2}
        exported = store.export()
    with Store(tmp_path / "elsewhere.sqlite") as other:  # the files stay behind
        assert other.import_rows(exported) == 4
        assert other.repack_inr_files() == (0, 0, 2)


def test_a_saved_inr_row_records_its_container_format(tmp_path):
    from inrcodec.bench.grid import expand
    from inrcodec.bench.job import Outcome
    from inrcodec.bench.spec import CodecRun, ImageSet, Spec

    spec = Spec(images=[ImageSet(path=str(SAMPLE))],
                lpips=False, codecs=[CodecRun("siren", rates=[{"layers": 2, "width": 8}])])
    job = expand(spec)[0]
    data = (GOLDEN / "siren.inr").read_bytes()
    with Store(tmp_path / "r.sqlite") as store:
        store.save(job, Outcome(job.job_id, "done", {"bytes": len(data)}, encoded=data,
                                encoded_ext="inr"))
        assert store.rows()[0]["container_version"] == data[4]


def test_a_schema_2_store_gains_the_column_in_place(tmp_path):
    import sqlite3

    from inrcodec.bench.store import COLUMNS

    db = tmp_path / "old.sqlite"
    conn = sqlite3.connect(db)
    old = {k: v for k, v in COLUMNS.items() if k != "container_version"}
    conn.execute(f"CREATE TABLE results ({', '.join(f'{k} {v}' for k, v in old.items())})")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('schema', '2')")
    conn.execute("INSERT INTO results (job_id, kind, status) VALUES ('x', 'inr', 'done')")
    conn.commit()
    conn.close()
    with Store(db) as store:
        assert store.rows()[0]["container_version"] is None
        assert store.conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == "3"


def test_a_damaged_stored_file_is_named(tmp_path):
    old = bytearray((GOLDEN / "siren.inr").read_bytes())
    old[40] ^= 1  # the CRC no longer matches
    with Store(tmp_path / "r.sqlite") as store:
        (store.artifacts_dir / "a").mkdir(parents=True)
        (store.artifacts_dir / "a" / "encoded.inr").write_bytes(bytes(old))
        with store.conn:
            store.conn.execute("INSERT INTO results (job_id, kind, status, encoded_path, bytes, "
                               "bpp) VALUES ('a', 'inr', 'done', 'a/encoded.inr', 10, 1.0)")
        with pytest.raises(DecodeError, match="stored file .*encoded.inr of job a: corrupt"):
            store.repack_inr_files()
        assert (store.artifacts_dir / "a" / "encoded.inr").read_bytes() == bytes(old)
