"""Benchmark pieces in-process: baselines, specs and job ids, store, runner, BD-rate, curves."""

from __future__ import annotations

import datetime
import json
import math
import shutil
import sqlite3

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

from conftest import SAMPLE
from inrcodec import baselines as bl
from inrcodec.bench.bdrate import bd, efficient
from inrcodec.bench.curves import build_curves, common_images, curve_groups
from inrcodec.bench.executors import LocalExecutor, make_executor, threads_per_worker
from inrcodec.bench.grid import expand
from inrcodec.bench.presets import preset_spec
from inrcodec.bench.runner import run_grid
from inrcodec.bench.spec import BaselineRun, CodecRun, ImageSet, Spec, load_spec
from inrcodec.bench.store import Store
from inrcodec.cli.bench import build_spec
from inrcodec.cli.main import app
from inrcodec.errors import ConfigError, InputError
from inrcodec.io import read_image
from inrcodec.metrics import psnr


@pytest.fixture(scope="module")
def imgdir(tmp_path_factory):
    """Two small RGB images and one gray one, cut from the packaged sample."""
    d = tmp_path_factory.mktemp("imgs")
    with PILImage.open(SAMPLE) as im:
        im.crop((90, 30, 138, 70)).save(d / "a.png")
        im.crop((20, 60, 68, 100)).save(d / "b.png")
    return d


def baseline_spec(imgdir, **kw) -> Spec:
    return Spec(name="t", images=[ImageSet(path=str(imgdir))],
                baselines=[BaselineRun("jpeg/420", [20, 60]), BaselineRun("webp", [30, 70])],
                lpips=False, **kw)


# -- baselines -------------------------------------------------------------------------------

@pytest.mark.parametrize("label", list(bl.BASELINES))
def test_baseline_real_bytes_and_quality_sweep(label, sample):
    base = bl.BASELINES[label]
    image = sample.with_data(sample.data[:, :40, :48])
    lo, hi = (bl.run_baseline(base, image, q) for q in (base.qualities[1], base.qualities[-2]))
    assert lo.decoded.data.shape == image.data.shape
    assert 0 < len(lo.data) < len(hi.data)  # a sweep really moves the rate
    assert psnr(image, hi.decoded) > psnr(image, lo.decoded) > 15
    # the stored bytes are a real file of that format: decoding them again gives the same
    again = base.decode(hi.data)
    assert np.array_equal(again, hi.decoded.to_codes())


def test_baseline_gray_and_refusals(sample):
    gray = type(sample)(sample.data[:1, :32, :32].clone(), 8, "L")
    for label in ("jpeg/444", "webp", "avif", "jpegxl"):
        r = bl.run_baseline(bl.BASELINES[label], gray, 50)
        assert r.decoded.mode == "L" and r.decoded.data.shape == (1, 32, 32)
    deep = type(sample)(gray.data, 16, "L")
    with pytest.raises(InputError, match="8-bit"):
        bl.run_baseline(bl.BASELINES["webp"], deep, 50)
    with pytest.raises(ConfigError, match="jpeg/444 or jpeg/420"):
        bl.get_baseline("jpeg")
    with pytest.raises(ConfigError, match="unknown baseline"):
        bl.get_baseline("bpg")


def test_avif_420_subsamples_the_chroma(sample):
    # at a high quality, 4:2:0 spends fewer bits on half as many chroma samples and loses
    # the colour edges that 4:4:4 keeps
    full, sub = (bl.run_baseline(bl.get_baseline("avif", v), sample, 90) for v in ("", "420"))
    assert len(sub.data) < len(full.data)
    assert psnr(sample, sub.decoded) < psnr(sample, full.decoded) - 0.5


# -- specs, grids, job ids ---------------------------------------------------------------------

def test_job_ids_stable_content_addressed_and_setting_sensitive(imgdir, tmp_path):
    jobs = expand(baseline_spec(imgdir))
    assert len(jobs) == 2 * 4 and len({j.job_id for j in jobs}) == 8
    assert [j.job_id for j in expand(baseline_spec(imgdir))] == [j.job_id for j in jobs]
    moved = tmp_path / "elsewhere"
    shutil.copytree(imgdir, moved)  # same files in another folder: same jobs
    assert {j.job_id for j in expand(baseline_spec(moved))} == {j.job_id for j in jobs}
    spec = baseline_spec(imgdir)
    spec.images[0].crop = [0, 0, 32, 32]
    assert not {j.job_id for j in expand(spec)} & {j.job_id for j in jobs}
    siren = Spec(images=[ImageSet(path=str(imgdir))], lpips=False, codecs=[
        CodecRun("siren", rates=[{"width": 8}], settings={"steps": 5})], losses=["mse", "l1"])
    a = expand(siren)
    siren.codecs[0].settings["steps"] = 6
    b = expand(siren)
    assert len(a) == 4 and not {j.job_id for j in a} & {j.job_id for j in b}


def test_job_ids_of_older_specs_are_unchanged():
    """Ids computed before the job gained labels, task metrics and NIfTI slices: a store
    written then is resumed, not rerun."""
    spec = Spec(images=[ImageSet(path=str(SAMPLE), crop=[0, 0, 32, 32])], lpips=False,
                baselines=[BaselineRun("webp", [30])],
                codecs=[CodecRun("siren", rates=[{"width": 8}], settings={"steps": 5})])
    assert [(j.kind, j.job_id) for j in expand(spec)] == [
        ("baseline", "bb3dccd290d1951863b1"), ("inr", "b7023213c6c385742b46")]


def test_unknown_names_are_clear_errors(imgdir):
    def spec(**kw):
        return Spec(images=[ImageSet(path=str(imgdir))], **kw)

    with pytest.raises(ConfigError, match="may not be implemented yet"):
        expand(spec(codecs=[CodecRun("coolchic-v9")]))
    with pytest.raises(ConfigError, match="no setting 'nonsense'"):
        expand(spec(codecs=[CodecRun("siren", rates=[{"nonsense": 1}])]))
    with pytest.raises(ConfigError):
        expand(spec(codecs=[CodecRun("siren")], losses=["notaloss"]))
    with pytest.raises(ConfigError, match="unknown baseline"):
        expand(spec(baselines=[BaselineRun("bpg")]))
    with pytest.raises(ConfigError, match="no such image"):
        expand(Spec(images=[ImageSet(path=str(imgdir / "nope.png"))],
                    baselines=[BaselineRun("webp")]))


def test_presets_and_flags(imgdir, monkeypatch):
    # a codec without a built-in rate sweep gives an error naming it, not a crash
    with pytest.raises(ConfigError, match="no built-in rate sweep for codec 'coolchic-v9'"):
        preset_spec("quick", ["coolchic-v9"])
    monkeypatch.setenv("INRCODEC_KODAK", str(imgdir))  # resolve_images is not called here
    spec = build_spec(None, "quick", codecs=["siren"], sets=["steps=7", "width=9"],
                      baselines=["none"], losses=["mse,l1"])
    assert spec.baselines == [] and spec.losses == ["mse", "l1"]
    run = spec.codecs[0]
    assert run.settings["steps"] == 7 and run.settings["width"] == 9
    assert all("width" not in r for r in run.rates)  # --set of a rate knob pins it
    spec = build_spec(None, None, images=[str(imgdir)], codecs=["siren:fast"],
                      rates=["layers=2 width=8", "layers=3 width=8"], qualities="10,20",
                      baselines=["webp"], crop="0,0,16,16")
    assert spec.codecs[0].preset == "fast" and spec.codecs[0].rates[1] == {"layers": 3,
                                                                          "width": 8}
    assert spec.baselines[0].qualities == [10, 20] and spec.images[0].crop == [0, 0, 16, 16]
    with pytest.raises(ConfigError, match="not both"):
        build_spec(imgdir / "x.toml", "quick")
    with pytest.raises(ConfigError, match="unknown bench preset"):
        preset_spec("huge")


def test_every_registered_codec_has_a_rate_sweep(imgdir):
    """`inrcodec bench -c NAME` works without --rate for every codec, at both levels, and the
    sweep's settings are valid; NAME:PRESET picks the codec preset."""
    from inrcodec.bench.presets import codec_run
    from inrcodec.codecs.registry import CODECS

    for name in CODECS:
        for level in ("quick", "full"):
            jobs = expand(Spec(images=[ImageSet(path=str(imgdir))], lpips=False,
                               codecs=[codec_run(name, level)]))
            assert len(jobs) >= 3 * 2
    spec = build_spec(None, None, images=[str(imgdir)], codecs=["coolchic", "coolchic:default"])
    assert [(r.preset, len(r.rates)) for r in spec.codecs] == [("fast", 4), ("default", 4)]


def test_toml_spec(imgdir, tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(f"""
losses = ["mse", "0.8*l1+0.2*ssim"]
lpips = false
[[images]]
path = "{imgdir}"
files = ["a.png"]
crop = [0, 0, 24, 24]
[[codecs]]
name = "siren"
preset = "fast"
settings = {{ steps = 3 }}
rates = [ {{ layers = 2, width = 8 }} ]
[[baselines]]
name = "jpegxl"
qualities = [50]
""")
    spec = load_spec(p)
    assert spec.name == "s"
    jobs = expand(spec)
    assert len(jobs) == 3 and {j.loss for j in jobs} == {"", "mse", "0.8*l1+0.2*ssim"}
    # a protocol's subset: the same images, hence the same job ids, as a folder's
    kodak = tmp_path / "kodak"
    kodak.mkdir()
    with PILImage.open(SAMPLE) as im:  # two different images (jobs are content-addressed)
        im.save(kodak / "kodim01.png")
        im.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT).save(kodak / "kodim15.png")
    sub = Spec(images=[ImageSet(protocol="kodak6-half", files=["kodim15.png", "kodim01"])],
               kodak=str(kodak), baselines=[BaselineRun("webp", [30])], lpips=False)
    jobs = expand(sub)
    assert [j.image.name for j in jobs] == ["kodim01@1/2", "kodim15@1/2"]  # protocol order
    folder = Spec(images=[ImageSet(path=str(kodak), files=["kodim01.png", "kodim15.png"],
                                   reduce=2)], baselines=[BaselineRun("webp", [30])],
                  lpips=False)
    assert [j.job_id for j in jobs] == [j.job_id for j in expand(folder)]
    sub.images[0].files = ["kodim02"]
    with pytest.raises(ConfigError, match="protocol kodak6-half has no image"):
        expand(sub)
    p.write_text("bogus = 1\n[[images]]\npath='x'\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_spec(p)
    p.write_text("[[images]\n")
    with pytest.raises(ConfigError, match="TOML"):
        load_spec(p)


# -- store and runner --------------------------------------------------------------------------

def test_run_store_resume_and_artifacts(imgdir, tmp_path):
    jobs = expand(baseline_spec(imgdir))
    with Store(tmp_path / "r.sqlite") as store:
        s = run_grid(jobs, store, LocalExecutor(1, threads=1), progress=False)
        assert (s.done, s.failed, s.skipped) == (8, 0, 0)
        rows = store.rows()
        assert len(rows) == 8 and all(r["status"] == "done" for r in rows)
        for r in rows:
            assert r["bpp"] == pytest.approx(8 * r["bytes"] / (r["width"] * r["height"]))
            assert r["psnr"] > 15 and r["msssim_db"] > 0 and r["lpips"] is None
            assert r["host"] and r["inrcodec_version"] and r["codec_version"]
            enc, dec = store.artifact(r["encoded_path"]), store.artifact(r["decoded_path"])
            assert enc.stat().st_size == r["bytes"]
            assert psnr(read_image(r["image_path"]), read_image(dec)) == pytest.approx(r["psnr"])
        again = run_grid(jobs, store, LocalExecutor(1, threads=1), progress=False)
        assert (again.skipped, again.done) == (8, 0)
        assert len(store.runs()) == 1


def test_a_job_another_run_finishes_meanwhile_is_skipped(imgdir, tmp_path):
    """Two runs of overlapping grids on one store (one per core): a job the other run finishes
    while this one is busy is not run again when its turn comes."""
    from inrcodec.bench.job import run_job

    jobs = expand(baseline_spec(imgdir))
    path = tmp_path / "r.sqlite"

    class OtherRunMeanwhile(LocalExecutor):
        """The first job runs; meanwhile another connection stores jobs 3 and 7 (the last)."""

        def run(self, queue):
            queue = iter(queue)
            yield from super().run([next(queue)])
            with Store(path) as other:
                for j in (jobs[3], jobs[7]):
                    other.save(j, run_job(j))
            yield from super().run(queue)

    with Store(path) as store:
        s = run_grid(jobs, store, OtherRunMeanwhile(1, threads=1), progress=False)
        assert (s.done, s.taken, s.failed, s.skipped) == (6, 2, 0, 0)
        rows = {r["job_id"]: r for r in store.rows()}
        assert len(rows) == 8 and all(r["status"] == "done" for r in rows.values())
        run_id = store.runs()[0]["run_id"]
        assert [rows[j.job_id]["run_id"] for j in (jobs[3], jobs[7])] == [None, None]
        assert {rows[j.job_id]["run_id"] for i, j in enumerate(jobs) if i not in (3, 7)} == {
            run_id}


def _claim_by(path, job_id, host, pid, claimed_at):
    """A claim written as another run's process would write it."""
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                     (job_id, host, pid, 99, claimed_at))


def test_two_runs_on_one_store_split_the_work(imgdir, tmp_path):
    """A job another live run holds when its turn comes is skipped, not run side by side with
    it (two lanes walking the same grid in the same order would otherwise run every job
    twice); claims whose run is gone are taken over, and a run leaves no claims behind."""
    import os
    import socket
    import subprocess
    import sys

    from inrcodec.bench.store import CLAIM_TTL

    jobs = expand(baseline_spec(imgdir))
    path = tmp_path / "r.sqlite"
    host = socket.gethostname()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid whose process has ended: a killed run's claim
    now = datetime.datetime.now(datetime.UTC)
    old = (now - CLAIM_TTL - datetime.timedelta(minutes=1)).isoformat(timespec="seconds")
    fresh = now.isoformat(timespec="seconds")

    class OtherRunsMeanwhile(LocalExecutor):
        """After the first job, other runs' claims land on jobs 2-6."""

        def run(self, queue):
            queue = iter(queue)
            yield from super().run([next(queue)])
            _claim_by(path, jobs[2].job_id, host, os.getppid(), fresh)  # live, this host
            _claim_by(path, jobs[3].job_id, "elsewhere", 1, fresh)  # live, another host
            _claim_by(path, jobs[4].job_id, host, gone.pid, fresh)  # its process ended
            _claim_by(path, jobs[5].job_id, "elsewhere", 1, old)  # older than CLAIM_TTL
            _claim_by(path, jobs[6].job_id, host, os.getppid(), old)
            yield from super().run(queue)

    with Store(path) as store:
        s = run_grid(jobs, store, OtherRunsMeanwhile(1, threads=1), progress=False)
        assert (s.done, s.elsewhere, s.taken, s.failed) == (6, 2, 0, 0)
        rows = {r["job_id"] for r in store.rows()}
        assert rows == {j.job_id for i, j in enumerate(jobs) if i not in (2, 3)}
        # this run's claims went with its rows; the two live ones are the other runs'
        assert set(store.claims()) == {jobs[2].job_id, jobs[3].job_id}
        assert store.claim(jobs[3].job_id) is False and store.claim(jobs[0].job_id) is True
        store.release_claims()
        assert set(store.claims()) == {jobs[2].job_id, jobs[3].job_id}


def test_an_encode_done_under_another_label_is_copied_not_run(imgdir, tmp_path):
    """A curve drawn again under another label (the loss study's second table re-draws MSE)
    gets copies of the rows already encoded, files included; other settings still run."""
    with PILImage.open(imgdir / "a.png") as im:
        im.crop((0, 0, 24, 24)).save(tmp_path / "c.png")

    def spec(label, rates):
        return Spec(images=[ImageSet(path=str(tmp_path / "c.png"))], lpips=False,
                    codecs=[CodecRun("siren", label=label, rates=rates,
                                     settings={"steps": 40, "qat_steps": 2})])

    first = {"layers": 2, "width": 8}
    with Store(tmp_path / "r.sqlite") as store:
        run_grid(expand(spec("a", [first])), store, LocalExecutor(1, threads=1),
                 progress=False)
        s = run_grid(expand(spec("b", [first, {"layers": 2, "width": 6}])), store,
                     LocalExecutor(1, threads=1), progress=False)
        assert (s.reused, s.done, s.skipped) == (1, 1, 0)
        rows = {(r["curve"], json.loads(r["rate_json"])["width"]): r for r in store.rows()}
        source, copy = rows[("a|mse", 8)], rows[("b|mse", 8)]
        assert copy["reused_from"] == source["job_id"] and copy["job_id"] != source["job_id"]
        assert rows[("b|mse", 6)]["reused_from"] is None
        for key in ("bytes", "bpp", "psnr", "msssim", "container_version"):
            assert copy[key] == source[key]
        assert json.loads(copy["job_json"])["label"] == "b"
        for column in ("encoded_path", "decoded_path"):
            assert (store.artifact(copy[column]).read_bytes()
                    == store.artifact(source[column]).read_bytes())
        again = run_grid(expand(spec("b", [first])), store, LocalExecutor(1, threads=1),
                         progress=False)
        assert (again.reused, again.skipped) == (0, 1)
    # --dry-run counts what a run would do: label "c" would copy the width-8 encode
    toml = tmp_path / "c.toml"
    toml.write_text(f'[[images]]\npath = "{tmp_path / "c.png"}"\n[[codecs]]\nname = "siren"\n'
                    'label = "c"\nsettings = { steps = 40, qat_steps = 2 }\n'
                    'rates = [{ layers = 2, width = 8 }, { layers = 2, width = 4 }]\n')
    r = CliRunner().invoke(app, ["bench", str(toml), "--db", str(tmp_path / "r.sqlite"),
                                 "--dry-run", "--no-lpips"], terminal_width=200)
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if "c|mse" in x)
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells[:-1] == ["c|mse", "1", "2", "2", "0", "0", "1", "0", "1"]
    # the one job to run is estimated from the store's siren jobs (label "c" has none)
    with Store(tmp_path / "r.sqlite") as store:
        ran = [x["job_seconds"] for x in store.rows() if not x["reused_from"]]
    assert float(cells[-1]) == pytest.approx(sum(ran) / len(ran) / 3600, abs=0.006)
    assert "h of job time to run on one worker" in r.output
    # once another live run holds that job, it is counted as running, not to run
    (width4,) = [j for j in expand(build_spec(toml, None, lpips=False))
                 if j.rate_dict()["width"] == 4]
    _claim_by(tmp_path / "r.sqlite", width4.job_id, "elsewhere", 1,
              datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    r = CliRunner().invoke(app, ["bench", str(toml), "--db", str(tmp_path / "r.sqlite"),
                                 "--dry-run", "--no-lpips"], terminal_width=200)
    line = next(x for x in r.output.splitlines() if "c|mse" in x)
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells == ["c|mse", "1", "2", "2", "0", "0", "1", "1", "0", ""]


def test_dry_run_estimates_from_the_same_curve_else_the_same_codec_preset():
    from types import SimpleNamespace

    from inrcodec.cli.bench import _job_seconds

    def row(curve, seconds, variant="icip24", **kw):
        return {"status": "done", "curve": curve, "codec": "coolchic-v1", "variant": variant,
                "job_seconds": seconds, "reused_from": None} | kw

    estimate = _job_seconds([row("v1|mse", 100.0), row("v1|mse", 140.0), row("v1|l1", 300.0),
                             row("v1|l1", 9e9, reused_from="x"),  # a copy costs nothing
                             row("v1|rmse", 5.0, status="failed"),
                             row("v1|x", 50.0, variant="fast")])

    def job(curve, variant="icip24"):
        return SimpleNamespace(curve=curve, codec="coolchic-v1", variant=variant)

    assert estimate(job("v1|mse")) == 120.0
    assert estimate(job("v1|l1")) == 300.0
    assert estimate(job("v1-other|rmse")) == pytest.approx((100 + 140 + 300) / 3)
    assert estimate(job("v1|y", "fast")) == 50.0
    assert estimate(job("v1|y", "slow")) is None


def test_encode_options_in_a_spec_reach_the_encoder(imgdir, tmp_path):
    """A rate point (or a codec's settings) may carry api.encode's options: a time budget in
    seconds, a target bpp or PSNR. They are checked when the grid expands, and run."""
    import json

    with PILImage.open(imgdir / "a.png") as im:
        im.crop((0, 0, 24, 24)).save(tmp_path / "c.png")
    spec = Spec(images=[ImageSet(path=str(tmp_path / "c.png"))], lpips=False,
                codecs=[CodecRun("siren", settings={"steps": 150, "qat_steps": 5},
                                 rates=[{"layers": 2, "width": 8, "budget": 6.0},
                                        {"layers": 2, "target_bpp": 3.0}])])
    with Store(tmp_path / "r.sqlite") as store:
        s = run_grid(expand(spec), store, LocalExecutor(1, threads=1), progress=False)
        assert (s.done, s.failed) == (2, 0)
        rows = {next(iter(json.loads(r["rate_json"]).keys() & {"budget", "target_bpp"})): r
                for r in store.rows()}
    budget = json.loads(rows["budget"]["log_json"])["budget"]
    assert budget["budget_s"] == 6.0 and budget["seconds_per_planned_step"] > 0
    target = json.loads(rows["target_bpp"]["log_json"])["target"]
    assert target["knob"] == "width" and target["achieved"] == pytest.approx(
        rows["target_bpp"]["bpp"])

    def check(**rate):
        expand(Spec(images=[ImageSet(path=str(tmp_path / "c.png"))],
                    codecs=[CodecRun("coolchic", rates=[rate])]))

    check(budget=60)
    for rate, msg in [({"budget": 0}, "positive"), ({"budget": 9, "target_bpp": 1}, "combined"),
                      ({"target_bpp": 1, "target_psnr": 30}, "combined"),
                      ({"tolerance": 0.1}, "needs target_bpp")]:
        with pytest.raises(ConfigError, match=msg):
            check(**rate)


def test_failed_jobs_kept_and_retried(imgdir, tmp_path, monkeypatch):
    jobs = expand(baseline_spec(imgdir))
    real = bl.run_baseline

    def flaky(base, image, q):
        if base.name == "webp":
            raise RuntimeError("encoder exploded")
        return real(base, image, q)

    monkeypatch.setattr(bl, "run_baseline", flaky)
    with Store(tmp_path / "r.sqlite") as store:
        s = run_grid(jobs, store, LocalExecutor(1, threads=1), progress=False)
        assert (s.done, s.failed) == (4, 4)
        failed = store.rows("failed")
        assert all("encoder exploded" in r["error"] and r["bpp"] is None for r in failed)
        assert run_grid(jobs, store, LocalExecutor(1, threads=1), progress=False).skipped == 8
        monkeypatch.setattr(bl, "run_baseline", real)
        s = run_grid(jobs, store, LocalExecutor(1, threads=1), retry_failed=True, progress=False)
        assert (s.skipped, s.done, s.failed) == (4, 4, 0)
        assert len(store.rows("done")) == 8 and not store.rows("failed")


def test_parallel_workers_match_serial(imgdir, tmp_path):
    spec = baseline_spec(imgdir)
    spec.codecs = [CodecRun("siren", rates=[{"layers": 2, "width": 8}],
                            settings={"steps": 20, "qat_steps": 2})]
    jobs = expand(spec)
    with Store(tmp_path / "a.sqlite") as a, Store(tmp_path / "b.sqlite") as b:
        run_grid(jobs, a, LocalExecutor(1, threads=1), progress=False)
        run_grid(jobs, b, make_executor("local", workers=2), progress=False)
        ra = {r["job_id"]: r for r in a.rows()}
        rb = {r["job_id"]: r for r in b.rows()}
    assert ra.keys() == rb.keys() and len(ra) == 10
    for k in ra:  # same bytes and same quality whichever way they ran
        assert (ra[k]["bytes"], ra[k]["psnr"]) == (rb[k]["bytes"], rb[k]["psnr"]), ra[k]["curve"]
        assert ra[k]["decode_max_diff"] == 0
    assert {r["threads"] for r in rb.values()} == {threads_per_worker(2)}
    assert threads_per_worker(3, cores=2) == 1 and threads_per_worker(2, cores=16) == 8


def test_store_refuses_garbage(tmp_path):
    p = tmp_path / "x.sqlite"
    p.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ConfigError, match="not a results database"):
        Store(p)
    with pytest.raises(ConfigError, match="no such results database"):
        Store(tmp_path / "missing.sqlite", create=False)


def test_ray_missing_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *a, **kw):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ConfigError, match="pip install"):
        make_executor("ray")
    with pytest.raises(ConfigError, match="unknown executor"):
        make_executor("slurm")


# -- BD-rate and curves ------------------------------------------------------------------------

def test_bd_rate_known_answers():
    r = [0.25, 0.5, 1.0, 2.0]
    q = [28.0, 31.0, 34.0, 37.0]
    same = bd(r, q, r, q)
    assert abs(same.bd_rate) < 1e-9 and abs(same.bd_metric) < 1e-9 and same.overlap == 1
    cheaper = bd(r, q, [x * 0.8 for x in r], q)  # 20 % fewer bits at every quality
    assert cheaper.bd_rate == pytest.approx(-20.0, abs=1e-6)
    better = bd(r, q, r, [x + 0.5 for x in q])
    assert better.bd_metric == pytest.approx(0.5, abs=1e-6) and better.bd_rate < 0
    # LPIPS: lower is better, so a uniformly lower curve is a gain
    lp = [0.4, 0.3, 0.2, 0.1]
    gain = bd(r, lp, r, [x - 0.02 for x in lp], higher_is_better=False)
    assert gain.bd_rate < 0 and gain.bd_metric == pytest.approx(-0.02, abs=1e-6)
    assert math.isnan(bd(r, q, [5, 6, 7], [40, 41, 42]).bd_rate)  # no overlap
    assert math.isnan(bd(r, q, [1.0], [33.0]).bd_rate)  # one point is no curve
    # a worse, more expensive point is dropped rather than breaking the interpolation
    x, y = efficient([0.2, 0.5, 0.4, 1.0], [28, 30, 31, 35])
    assert list(x) == [0.2, 0.4, 1.0] and list(y) == [28, 31, 35]


def test_bd_falls_back_to_pchip_where_akima_is_not_monotone():
    # a loss-study pair (Cool-chic v2, LPIPS, 3 points each): Akima's fit of the test curve
    # dips to 0.27 bpp between its 0.67 and 2.15 bpp points and gave a BD-rate of -50.6 %
    # while its BD-LPIPS said the test is worse
    anchor = ([0.494, 0.987, 1.754], [0.1597, 0.0615, 0.0142])
    test = ([0.671, 2.152, 3.037], [0.1314, 0.0135, 0.0103])
    r = bd(*anchor, *test, higher_is_better=False)
    assert r.method == "pchip"
    assert r.bd_rate > 0 and r.bd_metric > 0  # both say: the test is worse
    # a well-sampled curve keeps Akima
    assert bd([0.25, 0.5, 1.0, 2.0], [28, 31, 34, 37], [0.3, 0.6, 1.2], [28, 31, 34]).method \
        == "akima"


def _row(curve, image, rate, bpp, psnr_, kind="inr", seed=0):
    return {"status": "done", "curve": curve, "image": image, "rate_json": rate, "bpp": bpp,
            "psnr": psnr_, "ssim": 0.9, "msssim": 0.9, "msssim_db": 10.0, "lpips": None,
            "encode_seconds": 1.0, "decode_seconds": 0.1, "kind": kind, "seed": seed,
            "architecture": curve.split("|")[0], "loss": curve.split("|")[-1]}


def test_curves_average_only_over_common_images():
    rows = [_row("a|mse", "x", "1", 1.0, 30), _row("a|mse", "y", "1", 3.0, 34),
            _row("a|mse", "x", "2", 2.0, 32, seed=0), _row("a|mse", "x", "2", 4.0, 36, seed=1),
            _row("jpeg", "x", "1", 1.0, 29, kind="baseline")]
    assert common_images(rows) == ["x"]
    curves = {c.label: c for c in build_curves(rows)}
    pts = curves["a|mse"].points
    assert [(p.bpp, p.values["psnr"]) for p in pts] == [(1.0, 30), (3.0, 34)]  # seeds averaged
    assert curves["a|mse"].series("lpips") == ([], [])
    both = {c.label: c for c in build_curves(rows, ["x", "y"])}
    assert [p.bpp for p in both["a|mse"].points] == [2.0]  # rate "2" lacks image y
    assert "jpeg" not in both


def test_an_architecture_on_fewer_images_does_not_shrink_the_others():
    rows = [_row(c, im, "1", 1.0, 30) for c in ("a|mse", "jpeg") for im in ("x", "y", "z")]
    rows[-3]["kind"] = rows[-2]["kind"] = rows[-1]["kind"] = "baseline"
    rows += [_row("b-x2|mse", "x", "1", 1.0, 31)]  # run on one image only
    groups = {arch: (images, {c.label for c in curves})
              for arch, images, curves in curve_groups(rows)}
    assert groups["a"] == (["x", "y", "z"], {"a|mse", "jpeg"})
    assert groups["b-x2"] == (["x"], {"b-x2|mse", "jpeg"})
    only_base = curve_groups([r for r in rows if r["kind"] == "baseline"])
    assert [(a, i) for a, i, _ in only_base] == [("baselines", ["x", "y", "z"])]


def test_sqlite_row_is_all_or_nothing(imgdir, tmp_path):
    """A row is one INSERT in one transaction: a failure while writing leaves no trace."""
    jobs = expand(baseline_spec(imgdir))[:1]
    with Store(tmp_path / "r.sqlite") as store:
        from inrcodec.bench.job import run_job

        outcome = run_job(jobs[0])
        outcome.row["psnr"] = object()  # not storable: the INSERT fails
        with pytest.raises(sqlite3.Error):
            store.save(jobs[0], outcome)
        assert store.rows() == []


def test_rd_figure_draws_lpips_on_a_log_axis(tmp_path, monkeypatch):
    from inrcodec.bench import plots
    from inrcodec.bench.curves import Curve, Point

    pts = [Point(str(i), b, {"psnr": 25 + 4 * i, "lpips": 0.2 / 10 ** i}, 1)
           for i, b in enumerate((0.3, 1.0, 3.0))]
    figures = []
    monkeypatch.setattr(plots.plt, "close", figures.append)  # keep the figure to inspect
    paths = plots.rd_figure("t", [Curve("x|mse", "inr", "x", "mse", pts)], [], tmp_path / "rd",
                            ("psnr", "lpips"))
    assert all(p.stat().st_size > 1000 for p in paths)
    psnr_ax, lpips_ax = figures[0].axes[:2]
    assert psnr_ax.get_yscale() == "linear" and lpips_ax.get_yscale() == "log"
    lo, hi = lpips_ax.get_ylim()
    assert lo < 0.002 and hi > 0.2


def test_rd_figure_bytes_depend_only_on_the_curves(tmp_path):
    """No date or random SVG ids: a regenerated report changes a figure only with its data."""
    from inrcodec.bench import plots
    from inrcodec.bench.curves import Curve, Point

    def draw(stem, top):
        pts = [Point(str(i), b, {"psnr": top + 4 * i}, 1) for i, b in enumerate((0.3, 1.0))]
        return plots.rd_figure("t", [Curve("x|mse", "inr", "x", "mse", pts)], [],
                               tmp_path / stem, ("psnr",))

    first, again, other = draw("a", 25), draw("b", 25), draw("c", 26)
    for a, b, c in zip(first, again, other, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert a.read_bytes() != c.read_bytes()
