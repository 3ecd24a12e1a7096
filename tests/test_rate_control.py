"""Rate and time controls: --target-bpp / --target-psnr (a search over the rate setting),
--budget (training on the clock, a deadline, a refused budget), many files per encode."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch

import inrcodec
from conftest import ROOT, crop
from inrcodec import fitting
from inrcodec.errors import ConfigError

SIREN = dict(codec="siren", steps=60, layers=3, lpips=False)


def test_target_bpp_lands_within_tolerance_and_reports_tries(small):
    r = inrcodec.encode(small, target_bpp=3.0, **SIREN)
    search = r.log["target"]
    assert search["knob"] == "width" and search["met"]
    assert abs(r.bpp / 3.0 - 1) <= 0.05
    tries = search["tries"]
    assert any(t["proxy"] for t in tries) and not tries[-1]["proxy"]  # proxies, then the file
    assert search["achieved"] == pytest.approx(r.bpp)
    assert inrcodec.decode(bytes(r)).data.shape == small.data.shape  # a real file


def test_target_psnr_for_cool_chic_searches_lambda(small):
    kw = dict(codec="coolchic-v2", steps=60, ste_steps=5, warmup_candidates=1, lpips=False)
    low = inrcodec.encode(small, lmbda=2e-2, **kw).metrics["psnr"]
    r = inrcodec.encode(small, target_psnr=low + 2.0, **kw)
    search = r.log["target"]
    assert search["knob"] == "lmbda" and len(search["tries"]) >= 2
    assert r.metrics["psnr"] > low + 1.0  # the search moved the rate the right way
    lambdas = [t["knob"] for t in search["tries"]]
    assert min(lambdas) < 2e-2


def test_default_codec_is_coolchic_whose_budget_is_counted_in_iterations():
    from inrcodec.codecs.registry import get_codec

    assert inrcodec.api.DEFAULT_CODEC == "coolchic"
    assert inrcodec.api.default_preset("coolchic") == "fast"
    assert get_codec("coolchic").make_settings("fast", steps=123).iterations == 123  # --steps


def test_target_psnr_for_the_default_codec_searches_lambda(small):
    kw = dict(iterations=80, quantize_search=False, lpips=False)
    low = inrcodec.encode(small, lmbda=2e-2, **kw)
    r = inrcodec.encode(small, target_psnr=low.metrics["psnr"] + 2.0, **kw)
    search = r.log["target"]
    assert r.codec == "coolchic" and search["knob"] == "lmbda"
    proxies = [t for t in search["tries"] if t["proxy"]]
    assert proxies and not search["tries"][-1]["proxy"]
    assert r.metrics["psnr"] > low.metrics["psnr"] + 1.0
    assert min(t["knob"] for t in search["tries"]) < 2e-2


def test_full_encodes_interpolate_once_they_bracket_the_target():
    # proxies that say nothing (always 0.55 bpp) and a full-encode response that bends (log bpp
    # piecewise linear in log lambda): secant steps from the last two files miss within three
    # tries; interpolating between the nearest files on both sides, then a fourth, lands it
    import dataclasses
    from types import SimpleNamespace

    from inrcodec.targeting import _bracket, search

    @dataclasses.dataclass
    class Settings:
        lmbda: float = 1e-3
        iterations: int = 2000
        rdoq: bool = True

    def encode(lmbda: float, iterations: int = 2000, rdoq: bool = True):
        x = math.log(lmbda / 1e-3)
        bpp = 0.55 if iterations < 2000 else 0.35 * math.exp(-0.4 * x if x > 0 else -1.5 * x)
        return SimpleNamespace(bpp=bpp, metrics={"psnr": 30.0})

    r, log = search(encode, "coolchic", Settings(), target_bpp=0.5)
    fulls = [t["bpp"] for t in log["tries"] if not t["proxy"]]
    assert log["met"] and abs(r.bpp / 0.5 - 1) <= 0.05 and len(fulls) == 4
    assert min(fulls) < 0.5 < max(fulls)
    assert _bracket([(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)], 4.0) == ((1.0, 3.0), (2.0, 5.0))
    assert _bracket([(0.0, 1.0), (1.0, 3.0)], 4.0) is None


def test_unreachable_target_warns_with_what_was_achieved(small):
    with pytest.warns(RuntimeWarning, match="not reached"):
        r = inrcodec.encode(small, target_bpp=0.001, **SIREN)
    assert not r.log["target"]["met"]


def test_bad_targets_are_config_errors(small):
    with pytest.raises(ConfigError, match="positive"):
        inrcodec.encode(small, target_bpp=-1, **SIREN)
    with pytest.raises(ConfigError, match="exactly one"):
        inrcodec.encode(small, target_bpp=1, target_psnr=30, **SIREN)
    with pytest.raises(ConfigError, match="cannot be combined"):
        inrcodec.encode(small, target_bpp=1, budget=10, **SIREN)


class FakeClock:
    """time.perf_counter that advances one second per call."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def _tiny_problem():
    w = torch.nn.Parameter(torch.ones(3))
    module = torch.nn.Module()
    module.w = w
    seen: list[int] = []

    def objective(step: int):
        seen.append(step)
        return (module.w - 2).square().sum(), None

    return module, objective, seen


def test_training_follows_the_clock_and_stops_at_the_deadline(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(fitting.time, "perf_counter", clock)
    module, objective, seen = _tiny_problem()
    opt = torch.optim.SGD(module.parameters(), lr=0.01)
    # 10 planned steps at 2 s each: the schedule spans 20 s of the clock, whatever the speed
    with fitting.time_limit(None, step_seconds=2.0):
        log = fitting.train(module, objective, opt, 10)
    assert seen == sorted(seen) and seen[0] == 0 and seen[-1] >= 8
    assert log.steps == len(seen) < 20
    seen.clear()
    with fitting.time_limit(clock.t + 6.0):  # a deadline 6 s ahead: a few steps, then stop
        log = fitting.train(module, objective, opt, 1000)
    assert 0 < log.steps < 6 and seen == list(range(log.steps))


def test_budget_shorter_than_a_few_steps_is_refused(small):
    with pytest.raises(ConfigError, match="too short"):
        inrcodec.encode(small, codec="coolchic-v2", budget=0.01, lpips=False)
    with pytest.raises(ConfigError, match="positive"):
        inrcodec.encode(small, codec="siren", budget=-5, lpips=False)


def test_budget_encode_records_its_plan_and_writes_a_file(small):
    r = inrcodec.encode(crop(small, 0, 0, 24, 24), codec="siren", layers=2, width=8,
                        budget=6.0, lpips=False)
    plan = r.log["budget"]
    assert plan["budget_s"] == 6.0 and plan["seconds_per_planned_step"] > 0
    assert inrcodec.decode(bytes(r)).data.shape == (3, 24, 24)


def test_budget_compiles_only_when_the_settings_ask(small):
    """Under a budget the probe times the eager step; the encode compiles only with an explicit
    compile = true (auto would pay an unplanned compilation on the clock)."""
    from inrcodec.budget import plan
    from inrcodec.codecs.registry import get_codec

    codec, image = get_codec("coolchic"), crop(small, 0, 0, 32, 32)
    for asked, compiled in [({}, False), ({"compile": True}, True),
                            ({"compile": False}, False)]:
        s = codec.make_settings("fast", quantize_search=False, **asked)
        assert plan(codec, image, s, 60.0, torch.device("cpu")).settings.compile is compiled


def test_budget_encode_of_the_default_codec(small):
    r = inrcodec.encode(crop(small, 0, 0, 32, 32), budget=8.0, quantize_search=False,
                        lpips=False)
    plan = r.log["budget"]
    assert r.codec == "coolchic" and plan["budget_s"] == 8.0
    assert plan["seconds_per_planned_step"] > 0
    assert inrcodec.decode(bytes(r)).data.shape == (3, 32, 32)


def test_quantisation_search_under_a_budget_starts_at_the_usual_step():
    from inrcodec.codecs.coolchic.rdquant import FIXED_K, K_RANGE, best_k

    tried: list[int] = []

    def cost(k: int) -> float:
        tried.append(k)
        return abs(k - 11)

    assert best_k(cost) == 11 and tried == list(K_RANGE)  # no budget: every k, in order
    tried.clear()
    with fitting.time_limit(None, end=0.0):  # already past the encode's end
        assert best_k(cost) == FIXED_K and tried == [FIXED_K]


def run(*args):
    env = dict(os.environ, COLUMNS="120", PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "inrcodec.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600)


def test_many_files_into_a_folder_with_a_table_and_json_lines(sample, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    inrcodec.write_image(crop(sample, 30, 90, 20, 24), src / "a.png")
    inrcodec.write_image(crop(sample, 60, 20, 16, 16), src / "b.png")
    (src / "broken.png").write_text("not an image")
    out = tmp_path / "out"
    args = ("encode", src, "-o", out, "-c", "siren", "--steps", "20", "--set", "layers=2",
            "--set", "width=8", "--no-lpips")
    r = run(*args)
    assert r.returncode == 2  # one input failed: said, and the others still written
    assert sorted(p.name for p in out.iterdir()) == ["a.inr", "b.inr"]
    assert "broken.png" in r.stderr and "3 images" in r.stdout
    r = run(*args, "--json")
    records = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert len(records) == 3 and sum("error" in rec for rec in records) == 1
    assert {rec["output"] for rec in records if "output" in rec} == {
        str(out / "a.inr"), str(out / "b.inr")}
    r = run("encode", src / "a.png", src / "b.png", "-o", out / "a.inr", "-c", "siren")
    assert r.returncode == 2 and "folder" in r.stderr  # several inputs, a file as output


@pytest.mark.parametrize(("extra", "needle"), [
    (["--target-bpp", "-2"], "positive"),
    (["--budget", "0.01"], "too short"),
    (["--target-bpp", "1", "--budget", "30"], "cannot be combined"),
])
def test_bad_control_options_exit_2(sample, tmp_path, extra, needle):
    png = tmp_path / "x.png"
    inrcodec.write_image(crop(sample, 30, 90, 16, 16), png)
    r = run("encode", png, "-o", tmp_path / "x.inr", *extra)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.inr").exists()
