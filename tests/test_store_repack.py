"""A result store made before container format 2: resuming it rewrites its .inr files in the
current format and their rows' bytes and bpp, so that one grid never compares two headers."""

from __future__ import annotations

import pytest

import inrcodec
from conftest import ROOT
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
        assert store.repack_inr_files() == (0, 0, 1)  # nothing left to rewrite


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
