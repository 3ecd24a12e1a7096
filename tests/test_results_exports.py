"""The committed result exports (benchmarks/results/**/*.store.json): each loads as a store,
each row is a job of the spec it names (so `inrcodec bench SPEC --db ...` after
`inrcodec import` skips it), and the numbers converted from the old runners' files are the
recorded ones (scripts/convert_results.py, 2026-12-01)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from conftest import ROOT, load_script
from inrcodec.bench.grid import expand
from inrcodec.bench.spec import load_spec
from inrcodec.bench.store import Store

RESULTS = ROOT / "benchmarks" / "results"
EXPORTS = sorted(RESULTS.rglob("*.store.json"))
SHARED = ROOT.parent / "shared" / "data"

# (export, image, curve, rate_json, values): copied from the old result files before they were
# deleted (benchmarks/results/<old>.json, last at commit bef984a)
PINNED = [
    # coolchic_v1_kodak6half.json
    ("coolchic-v1-kodak6-half.store.json", "kodim08@1/2", "coolchic-v1:fast|mse",
     '{"lmbda": 0.004}', {"bpp": 0.9424641927083334, "psnr": 27.293857640008888,
                          "lpips": 0.0905064046382904}),
    ("coolchic-v1-kodak6-half.store.json", "kodim08@1/2", "avif", '{"quality": 10}',
     {"bpp": 0.23885091145833334, "psnr": 21.713838133552276, "lpips": 0.3674730956554413}),
    # coolchic_v1_kodak6half_clip.json
    ("coolchic-v1-kodak6-half-clip.store.json", "kodim15@1/2", "coolchic-v1:fast clip0.1|mse",
     '{"lmbda": 0.001}', {"bpp": 0.714599609375, "psnr": 33.237361854389164}),
    ("coolchic-v1-kodak6-half-clip.store.json", "kodim15@1/2", "avif", '{"quality": 10}',
     {"bpp": 0.14152018229166666, "psnr": 28.692870218957456}),
    # coolchic_v1_kodak6half_default.json
    ("coolchic-v1-kodak6-half-default.store.json", "kodim23@1/2", "coolchic-v1|mse",
     '{"lmbda": 0.004}', {"bpp": 0.3236490885416667, "psnr": 30.845276137506623}),
    ("coolchic-v1-kodak6-half-default.store.json", "kodim23@1/2", "avif", '{"quality": 50}',
     {"bpp": 0.5418294270833334, "psnr": 35.3667713835476, "lpips": 0.02123243734240532}),
    # coolchic_v1_kodak6half_ste300_clip.json
    ("coolchic-v1-kodak6-half-ste300-clip.store.json", "kodim15@1/2",
     "coolchic-v1:fast 1000+300 clip0.1|mse", '{"lmbda": 0.001}',
     {"bpp": 0.7285970052083334, "psnr": 33.06927028839403}),
    ("coolchic-v1-kodak6-half-ste300-clip.store.json", "kodim23@1/2",
     "coolchic-v1:fast 1000+300 clip0.1|mse", '{"lmbda": 0.02}',
     {"bpp": 0.23291015625, "psnr": 26.293482049080797, "lpips": 0.2721104025840759}),
    # coolchic_v2_kodak6half.json
    ("coolchic-v2-kodak6-half.store.json", "kodim01@1/2", "coolchic-v2:fast|mse",
     '{"lmbda": 0.001}', {"bpp": 1.0106608072916667, "psnr": 31.636928804987505,
                          "lpips": 0.03606243059039116}),
    ("coolchic-v2-kodak6-half.store.json", "kodim15@1/2", "coolchic-v2:fast|mse",
     '{"lmbda": 0.001}', {"bpp": 0.560791015625, "psnr": 33.200076227405106}),
    ("coolchic-v2-kodak6-half.store.json", "kodim23@1/2", "avif", '{"quality": 50}',
     {"bpp": 0.5418294270833334, "psnr": 35.3667713835476}),
    # coolchic_v2_kodak6half_noclip.json
    ("coolchic-v2-kodak6-half-noclip.store.json", "kodim15@1/2",
     "coolchic-v2:fast noclip up0.1|mse", '{"lmbda": 0.001}',
     {"bpp": 0.5699055989583334, "psnr": 31.374318656295756}),
    ("coolchic-v2-kodak6-half-noclip.store.json", "kodim23@1/2",
     "coolchic-v2:fast noclip up0.1|mse", '{"lmbda": 0.02}',
     {"bpp": 0.18684895833333334, "psnr": 26.978113952493302}),
    # coolchic_v2_kodak6half_clip_up01.json
    ("coolchic-v2-kodak6-half-clip-up01.store.json", "kodim15@1/2",
     "coolchic-v2:fast up0.1|mse", '{"lmbda": 0.001}',
     {"bpp": 0.5679524739583334, "psnr": 32.75193871799165, "lpips": 0.0863691121339798}),
    ("coolchic-v2-kodak6-half-clip-up01.store.json", "kodim23@1/2",
     "coolchic-v2:fast up0.1|mse", '{"lmbda": 0.02}',
     {"bpp": 0.182373046875, "psnr": 27.134690556807545}),
    # coolchic_v2_kodak6half_arm16.json
    ("coolchic-v2-kodak6-half-arm16.store.json", "kodim08@1/2",
     "coolchic-v2:fast arm16 noclip up0.1|mse", '{"lmbda": 0.001}',
     {"bpp": 1.364990234375, "psnr": 30.857882197041263}),
    ("coolchic-v2-kodak6-half-arm16.store.json", "kodim20@1/2",
     "coolchic-v2:fast arm16 noclip up0.1|mse", '{"lmbda": 0.02}',
     {"bpp": 0.14306640625, "psnr": 26.77950212419684, "lpips": 0.23667097091674805}),
    # coolchic_v2_kodak6half_default.json
    ("coolchic-v2-kodak6-half-default.store.json", "kodim23@1/2", "coolchic-v2|mse",
     '{"lmbda": 0.001}', {"bpp": 0.5147298177083334, "psnr": 34.97015080669156}),
    ("coolchic-v2-kodak6-half-default.store.json", "kodim23@1/2", "avif", '{"quality": 10}',
     {"bpp": 0.14794921875, "psnr": 28.34966886788649, "lpips": 0.16277745366096497}),
    # coolchic_v2_kodak6half_default_noclip.json
    ("coolchic-v2-kodak6-half-default-noclip.store.json", "kodim23@1/2",
     "coolchic-v2 noclip up0.1|mse", '{"lmbda": 0.004}',
     {"bpp": 0.321044921875, "psnr": 31.3492900856607}),
    ("coolchic-v2-kodak6-half-default-noclip.store.json", "kodim23@1/2",
     "coolchic-v2 noclip up0.1|mse", '{"lmbda": 0.02}',
     {"bpp": 0.18937174479166666, "psnr": 27.338010859434707}),
    # coolchic_v2_kodak6half_slow.json
    ("coolchic-v2-kodak6-half-slow.store.json", "kodim15@1/2", "coolchic-v2:slow|mse",
     '{"lmbda": 0.004}', {"bpp": 0.2880859375, "psnr": 31.158763195896448}),
    ("coolchic-v2-kodak6-half-slow.store.json", "kodim15@1/2", "avif", '{"quality": 50}',
     {"bpp": 0.554931640625, "psnr": 34.356520721169574, "lpips": 0.04211492836475372}),
    # coolchic_v2_kodak6.json
    ("coolchic-v2-kodak6.store.json", "kodim15", "coolchic-v2:fast up0.1|mse",
     '{"lmbda": 0.001}', {"bpp": 0.4209391276041667, "psnr": 33.29865945299593}),
    ("coolchic-v2-kodak6.store.json", "kodim15", "avif", '{"quality": 10}',
     {"bpp": 0.08347574869791667, "psnr": 29.322521879168598, "lpips": 0.3136654198169708}),
    # coolchic_v2_kodak6_noclip.json
    ("coolchic-v2-kodak6-noclip.store.json", "kodim08", "coolchic-v2:fast noclip up0.1|mse",
     '{"lmbda": 0.001}', {"bpp": 1.0744425455729167, "psnr": 31.574346688739322}),
    ("coolchic-v2-kodak6-noclip.store.json", "kodim23", "coolchic-v2:fast noclip up0.1|mse",
     '{"lmbda": 0.02}', {"bpp": 0.08233642578125, "psnr": 28.545964271016942}),
    # nif_kodak6-half.json (presets 120 and 200)
    ("nif-kodak6-half.store.json", "kodim01@1/2", "nif:fast|lcssim",
     '{"hidden": [120, 40, 28, 16], "mod_hidden": [16, 8]}',
     {"bpp": 1.1000162760416667, "payload_bpp": 1.0865071614583333,
      "psnr": 27.458317209250662, "lpips": 0.07974395900964737}),
    ("nif-kodak6-half.store.json", "kodim03@1/2", "nif:fast|lcssim",
     '{"hidden": [200, 64, 40, 20], "mod_hidden": [64, 16, 8]}',
     {"bpp": 2.2650553385416665, "psnr": 37.24319967897148}),
    # nif_kodak6.json
    ("nif-kodak6.store.json", "kodim23", "nif|lcssim",
     '{"hidden": [120, 40, 28, 16], "mod_hidden": [16, 8]}',
     {"bpp": 0.2641194661458333, "psnr": 31.93872923954402}),
    ("nif-kodak6.store.json", "kodim01", "nif|lcssim",
     '{"hidden": [120, 40, 28, 16], "mod_hidden": [16, 8]}',
     {"bpp": 0.2681681315104167, "psnr": 24.5652177148502, "lpips": 0.24668878316879272}),
    # coin_kodim23.json
    ("coin-kodim23.store.json", "kodim23", "siren|mse", '{"layers": 10, "width": 28}',
     {"bpp": 0.2313232421875, "psnr": 26.008711577631924, "lpips": 0.43890467286109924}),
    ("coin-kodim23.store.json", "kodim23", "pe-mlp|mse", '{"layers": 10, "skips": [5], '
     '"width": 28}', {"bpp": 0.3084716796875, "psnr": 19.42742775370983}),
    # sinco/results.json (merged study)
    ("sinco-table1.store.json", "OtherEXampleFromTCIA-fla-z087",
     "SINCO (INR)|mse+1.736111111111111e-05*sinco", '{"width": 39}',
     {"bpp": 0.8997222222222222, "psnr": 25.888092687854588, "ssim": 0.7764556607894955,
      "dice": 0.7254318046456224}),
    ("sinco-table1.store.json", "OtherEXampleFromTCIA-fla-z087",
     "SINCO (INR)|mse+3.472222222222222e-05*sinco", '{"width": 39}',
     {"psnr": 25.874423991048772, "dice": 0.7367178276269185}),
    ("sinco-table1.store.json", "OtherEXampleFromTCIA-fla-z087", "jpeg2000",
     '{"target_bpp": 0.29}', {"bpp": 0.2863888888888889, "psnr": 34.478950359303255,
                              "dice": 0.764403879064461}),
    ("sinco-low-rate.store.json", "OtherEXampleFromTCIA-fla-z087", "COIN|mse",
     '{"width": 18}', {"bpp": 0.26763888888888887, "psnr": 27.75229308620906,
                       "dice": 0.7675489067894131}),
    ("sinco-low-rate.store.json", "OtherEXampleFromTCIA-fla-z087",
     "coolchic-v1:fast|mse+1.736111111111111e-05*sinco", '{"lmbda": 0.004}',
     {"bpp": 0.28958333333333336, "psnr": 32.14525882061819, "dice": 0.7216248506571087}),
    # sinco/classical10/results.json
    ("classical10.store.json", "OtherEXampleFromTCIA-fla-z086", "jpegxl",
     '{"target_bpp": 1.0}', {"bpp": 0.9980555555555556, "psnr": 46.7429002848619,
                             "dice": 0.6980781153130812}),
    ("classical10.store.json", "OtherEXampleFromTCIA-fla-z091", "jpeg2000",
     '{"target_bpp": 0.29}', {"bpp": 0.28944444444444445, "psnr": 35.31225884932256}),
    # sinco/attempt_mean_mse/part2.json
    ("sinco-attempt-mean-mse.store.json", "OtherEXampleFromTCIA-fla-z089",
     "SINCO (SIREN)|mse+1*sinco", '{"width": 37}',
     {"bpp": 0.8956944444444445, "psnr": 13.962620510953466, "dice": 0.968421052631579}),
    ("sinco-attempt-mean-mse.store.json", "OtherEXampleFromTCIA-fla-z089", "COIN|mse",
     '{"width": 37}', {"bpp": 0.9052777777777777, "psnr": 30.90828989796003}),
]


@cache
def rows_of(export: Path) -> list[dict]:
    with Store.open(export) as store:
        return store.rows()


@cache
def spec_ids(name: str) -> frozenset[str]:
    """Job ids of a committed spec (benchmarks/specs/NAME.toml) or a built-in preset."""
    from inrcodec.bench.presets import PRESETS, preset_spec

    path = ROOT / "benchmarks" / "specs" / f"{name}.toml"
    spec = preset_spec(name) if name in PRESETS and not path.is_file() else load_spec(path)
    return frozenset(j.job_id for j in expand(spec))


def spec_names(export: Path) -> set[str]:
    """The committed specs (or built-in presets) whose runs wrote the export's store. A store
    may hold several (a study and its follow-up into the same database), and a run may have
    used an uncommitted subset of one of them; every row must still be a job of one that is
    committed, so that `inrcodec bench SPEC --db` resumes it."""
    from inrcodec.bench.presets import PRESETS

    runs = json.loads(export.read_text())["runs"]
    names = {json.loads(r["spec_json"])["name"] for r in runs}
    committed = {n for n in names
                 if (ROOT / "benchmarks" / "specs" / f"{n}.toml").is_file() or n in PRESETS}
    assert committed, f"{export.name}: none of its specs is committed: {names}"
    return committed


def converted(row: dict) -> bool:
    return "converted_from" in json.loads(row["log_json"] or "{}")


def test_every_converted_export_is_pinned():
    assert EXPORTS, "no committed exports"
    with_converted = {e.name for e in EXPORTS if any(converted(r) for r in rows_of(e))}
    assert with_converted == {p[0] for p in PINNED}


@pytest.mark.parametrize("export", EXPORTS, ids=lambda p: p.name)
def test_export_loads_and_rows_are_jobs_of_its_spec(export):
    rows = rows_of(export)
    assert rows and all(r["status"] == "done" for r in rows)
    if export.name in {p[0] for p in PINNED}:  # a reader can tell converted rows
        for r in rows:
            conv = json.loads(r["log_json"])["converted_from"]
            assert conv["script"] == "scripts/convert_results.py" and conv["command"]
            assert r["encoded_path"] is None and r["decoded_path"] is None
    names = spec_names(export)
    if not (SHARED / "kodak").is_dir() or not (SHARED / "mri").is_dir():
        pytest.skip("shared data (Kodak, MRI) not found: cannot expand the spec")
    ids = frozenset().union(*(spec_ids(n) for n in names))
    missing = [(r["curve"], r["image"], r["rate_json"]) for r in rows if r["job_id"] not in ids]
    assert not missing, f"rows that {sorted(names)} do not expand to: {missing[:5]}"


@pytest.mark.parametrize("export,image,curve,rate,values", PINNED,
                         ids=[f"{p[0]}:{p[1]}:{p[2]}:{p[3]}" for p in PINNED])
def test_recorded_numbers_unchanged(export, image, curve, rate, values):
    path = next(e for e in EXPORTS if e.name == export)
    found = [r for r in rows_of(path) if (r["image"], r["curve"], r["rate_json"]) ==
             (image, curve, rate)]
    assert len(found) == 1, (export, image, curve, rate)
    row = found[0] | json.loads(found[0]["task_metrics_json"] or "{}")
    assert {k: row[k] for k in values} == values


@pytest.mark.parametrize("name", ["coolchic-v2-kodak6-half-default.store.json",
                                  "sinco-low-rate.store.json"])
def test_report_of_a_converted_export(name, tmp_path):
    """Converted rows have no artifacts and some empty fields (decode seconds, host): the
    report still builds, says so, and states the recorded numbers."""
    from inrcodec.bench.report import write_report

    export = next(e for e in EXPORTS if e.name == name)
    page = write_report(export, tmp_path / "r").read_text()
    assert "converted from older result files" in page
    assert "No decoded images to compare" in page
    assert not (tmp_path / "r" / "crops").exists()
    assert not (tmp_path / "r" / "longer.csv").exists()  # no twice-as-long runs there
    # the page depends on the rows alone: a second report of the same rows is the same bytes
    again = write_report(export, tmp_path / "r2").read_bytes()
    assert again == (tmp_path / "r" / "index.html").read_bytes()
    assert f"the last at {max(r['finished_at'] for r in rows_of(export))[:10]}" in page
    timing = (tmp_path / "r" / "timing.csv").read_text().splitlines()
    rows = rows_of(export)
    assert len(timing) == 1 + len({r["curve"] for r in rows})
    curves = (tmp_path / "r" / "curves.csv").read_text()
    assert all(r["curve"] in curves for r in rows)


def _benchmark_script(name: str):
    return load_script(ROOT / "benchmarks" / f"{name}.py")


def _bd_between():
    return _benchmark_script("bd_between")


def test_bd_between_reads_side_by_side_rows_against_a_store():
    """benchmarks/bd_between.py: the side-by-side benchmark's .jsonl rows (kodak6-half, named
    kodim01 there) meet a bench store's images (kodim01@1/2) image by image."""
    from inrcodec.errors import InrCodecError

    bd = _bd_between()
    rows = bd.rows_of(str(RESULTS / "coolchic_vs_cc501.jsonl"), "side=ref,itr=2000")
    assert len(rows) == 24 and {r["image"] for r in rows} == {
        f"kodim{n:02d}@1/2" for n in (1, 3, 8, 15, 20, 23)}
    avif = bd.curves_by_image(bd.store_rows(RESULTS / "coolchic-v1-kodak6-half.store.json"),
                              "avif")
    cells = bd.bd_cells(avif, bd.curves_by_image(rows, "side=ref,itr=2000"))
    assert cells.startswith("6 | ")
    with pytest.raises(InrCodecError, match="key=value"):
        bd.jsonl_rows(RESULTS / "coolchic_vs_cc501.jsonl", "side")


def test_sinco_table_reads_table1_from_the_converged_export():
    """benchmarks/sinco_table.py: each INR method's means are its rows' means, lambda comes back
    on SINCO's scale from the loss, and the classical codecs are grouped by target rate."""
    table = _benchmark_script("sinco_table")
    export = RESULTS / "sinco" / "sinco-table1-converged.store.json"
    rows = table.merged_rows([str(export), str(export)])  # a job in two stores counts once
    assert len(rows) == len(rows_of(export))
    coin = [r for r in rows if r["curve"] == "COIN|mse"]
    methods = {m["curve"]: m for m in table.method_rows(rows)}
    assert methods["COIN|mse"]["n"] == len(coin) == 10
    assert methods["COIN|mse"]["psnr"] == pytest.approx(
        sum(r["psnr"] for r in coin) / len(coin))
    assert methods["COIN|mse"]["bpp_paper"] == pytest.approx(16 * 4367 / 240 / 240)
    assert table.sinco_term("mse+1.736111111111111e-05*sinco", 57600) == (
        pytest.approx(1.0), "labels")
    assert table.sinco_term("mse+8.680555555555556e-05*sinco_g", 57600) == (
        pytest.approx(5.0), "g(x)")
    assert table.sinco_term("mse", 57600) == (0.0, "-")
    assert {c["method"] for c in table.classical_rows(rows)} >= {"jpeg2000 @0.29",
                                                                  "jpegxl @1.2"}
    page = table.markdown(rows)
    assert "| COIN | 0 | - | " in page and "The paper's Table 1" in page


def test_sinco_table_sweeps_lambda_on_the_slices_every_lambda_has():
    """A sinco method at two or more lambdas becomes a sweep, with the network without the term
    as lambda 0, every point averaged over the same slices."""
    table = _benchmark_script("sinco_table")
    rows = table.merged_rows([str(RESULTS / "sinco" / "sinco-table1-converged.store.json")])
    siren = [r for r in rows if r["curve"].startswith("SINCO (SIREN)|")]
    two = sorted({r["image"] for r in siren})[:2]
    lam5 = "mse+8.680555555555556e-05*sinco"
    key = ("SINCO (SIREN)", "labels")

    def sweeps(rs: list[dict]) -> dict:
        return {(w["method"], w["reference"]): w
                for w in table.lambda_sweeps(table.method_rows(rs))}

    assert key not in sweeps(rows)  # one lambda only
    rows += [dict(r, loss=lam5, curve=f"SINCO (SIREN)|{lam5}", psnr=r["psnr"] - 1.0)
             for r in siren if r["image"] in two]
    sweep = sweeps(rows)[key]
    assert sweep["slices"] == two
    assert [(p["lambda"], p["method"]) for p in sweep["rows"]] == [
        (0.0, "COIN"), (pytest.approx(1.0), "SINCO (SIREN)"), (pytest.approx(5.0), "SINCO (SIREN)")]
    at_one = [r["psnr"] for r in siren if r["image"] in two]
    assert sweep["rows"][1]["psnr"] == pytest.approx(sum(at_one) / 2)
    assert sweep["rows"][2]["psnr"] == pytest.approx(sum(at_one) / 2 - 1.0)
    assert "## Lambda sweep: SINCO (SIREN), s = labels" in table.markdown(rows)


def test_export_as_csv_gives_one_line_per_finished_job(tmp_path):
    """`inrcodec export STORE -o x.csv`: the finished jobs, a column per task metric, the rate
    point as key=value; a failed write leaves nothing behind."""
    import csv
    import subprocess
    import sys

    export = RESULTS / "sinco" / "sinco-table1-converged.store.json"
    out = tmp_path / "t1.csv"
    r = subprocess.run([sys.executable, "-m", "inrcodec.cli", "export", str(export), "-o",
                        str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = list(csv.DictReader(out.open()))
    done = [row for row in rows_of(export) if row["status"] == "done"]
    assert len(lines) == len(done)
    by_id = {line["job_id"]: line for line in lines}
    for row in done:
        line = by_id[row["job_id"]]
        assert float(line["bpp"]) == row["bpp"] and line["image"] == row["image"]
        assert float(line["dice"]) == json.loads(row["task_metrics_json"])["dice"]
    assert {line["rate"] for line in lines if line["codec"] == "jpeg2000"} >= {
        "target_bpp=0.29", "target_bpp=1.2"}
    assert "COIN" in {line["label"] for line in lines if line["codec"] == "siren"}
    r = subprocess.run([sys.executable, "-m", "inrcodec.cli", "export", str(export), "-o",
                        str(tmp_path / "missing" / "t1.csv")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert not (tmp_path / "missing").exists()
