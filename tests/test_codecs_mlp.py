"""Real encodes of SIREN (COIN) and PE-MLP on small crops."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import inrcodec
from inrcodec.errors import ConfigError
from inrcodec.image import Image

FAST = {"siren": dict(layers=3, width=16), "pe-mlp": dict(layers=3, width=16, skips=(2,))}


@pytest.mark.parametrize("codec", ["siren", "pe-mlp"])
def test_roundtrip_through_real_file(small, codec):
    r = inrcodec.encode(small, codec=codec, steps=150, lpips=False, **FAST[codec])
    assert isinstance(r, bytes) and r.bpp == 8 * len(r) / (32 * 32)
    assert r.payload_bpp < r.bpp
    img = inrcodec.decode(r)
    assert torch.equal(img.data, r.reconstruction.quantized().data)
    assert img.mode == "RGB" and img.bit_depth == 8
    assert r.metrics["psnr"] > 18
    assert r.log["num_params"] == sum(p.numel() for p in
                                      inrcodec.codecs.registry.get_codec(codec).build(
                                          inrcodec.codecs.registry.get_codec(codec)
                                          .make_settings(**FAST[codec]), 3).parameters())


@pytest.mark.parametrize("codec", ["siren", "pe-mlp"])
def test_quality_rises_with_steps_and_size(small, codec):
    short = inrcodec.encode(small, codec=codec, steps=30, lpips=False, **FAST[codec])
    long = inrcodec.encode(small, codec=codec, steps=300, lpips=False, **FAST[codec])
    assert long.metrics["psnr"] > short.metrics["psnr"] + 1.0
    big = inrcodec.encode(small, codec=codec, steps=300, lpips=False,
                          **dict(FAST[codec], width=40))
    assert big.metrics["psnr"] > long.metrics["psnr"]
    assert len(big) > len(long)


def test_more_bits_cost_more_and_help(small):
    lo = inrcodec.encode(small, codec="siren", steps=200, bits=8, lpips=False, **FAST["siren"])
    hi = inrcodec.encode(small, codec="siren", steps=200, bits=14, lpips=False, **FAST["siren"])
    assert len(hi) > len(lo)
    assert hi.metrics["psnr"] >= lo.metrics["psnr"] - 0.05


def test_same_seed_same_bytes_other_seed_differs(small):
    a = inrcodec.encode(small, codec="siren", steps=40, seed=3, metrics=False, **FAST["siren"])
    b = inrcodec.encode(small, codec="siren", steps=40, seed=3, metrics=False, **FAST["siren"])
    c = inrcodec.encode(small, codec="siren", steps=40, seed=4, metrics=False, **FAST["siren"])
    assert bytes(a) == bytes(b) and bytes(a) != bytes(c)


def test_decode_is_bit_identical_across_thread_counts(small, tmp_path):
    r = inrcodec.encode(small, codec="siren", steps=60, metrics=False, layers=4, width=32)
    f = tmp_path / "x.inr"
    f.write_bytes(bytes(r))
    script = textwrap.dedent(f"""
        import sys, torch, numpy as np, inrcodec
        torch.set_num_threads(int(sys.argv[1]))
        img = inrcodec.decode(open({str(f)!r}, 'rb').read(), device='cpu')
        np.save(sys.argv[2], img.to_codes())
    """)
    outs = []
    for threads in (1, 2):
        npy = tmp_path / f"t{threads}.npy"
        subprocess.run([sys.executable, "-c", script, str(threads), str(npy)], check=True,
                       env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
        outs.append(np.load(npy))
    assert np.array_equal(outs[0], outs[1])
    assert np.array_equal(outs[0], r.reconstruction.to_codes())


@pytest.mark.parametrize("mode,bits", [("L", 8), ("RGBA", 8), ("L", 16)])
def test_modes_and_bit_depths_survive(small, mode, bits):
    c = {"L": 1, "RGBA": 4}[mode]
    data = small.data[:c] if c <= 3 else torch.cat([small.data, small.data[:1]])
    img = Image(data, bits, mode)
    r = inrcodec.encode(img, codec="siren", steps=60, lpips=False, **FAST["siren"])
    out = inrcodec.decode(r)
    assert (out.mode, out.bit_depth, out.channels) == (mode, bits, c)


@pytest.mark.parametrize("h,w", [(1, 1), (3, 5), (1, 400)])
def test_odd_sizes(h, w):
    g = torch.Generator().manual_seed(0)
    img = Image(torch.rand(3, h, w, generator=g), 8, "RGB")
    r = inrcodec.encode(img, codec="siren", steps=10, **FAST["siren"])
    assert inrcodec.decode(r).data.shape == (3, h, w)
    # LPIPS is computed (the image padded up to its network's minimum size) and finite
    assert "lpips" in r.metrics and np.isfinite(r.metrics["lpips"]) and r.metrics["lpips"] >= 0


def test_bad_settings_are_config_errors(small):
    with pytest.raises(ConfigError, match="no setting"):
        inrcodec.encode(small, codec="siren", nonsense=3)
    with pytest.raises(ConfigError, match="bits"):
        inrcodec.encode(small, codec="siren", bits=40)
    with pytest.raises(ConfigError, match="preset"):
        inrcodec.encode(small, codec="siren", preset="turbo")
    with pytest.raises(ConfigError, match="unknown loss"):
        inrcodec.encode(small, codec="siren", loss="l3")


def test_defaults_are_resolved_before_a_pure_validation(small):
    import dataclasses

    from inrcodec.codecs.registry import get_codec

    for name in ("siren", "pe-mlp"):
        codec = get_codec(name)
        assert codec.make_settings(steps=150).qat_steps == 15
        assert codec.make_settings(steps=150, qat_steps=0).qat_steps == 0
        raw = codec.settings_cls(steps=150)
        assert raw.qat_steps is None
        resolved = codec.resolve(raw)
        assert resolved.qat_steps == 15 and raw.qat_steps is None  # a new object
        before = dataclasses.asdict(resolved)
        codec.validate(resolved)
        assert dataclasses.asdict(resolved) == before
        with pytest.raises(ConfigError):
            codec.validate(raw)  # unresolved: refused, not silently filled in
        decoded = codec.settings_from_config(codec.config_of(resolved))
        assert codec.config_of(decoded) == codec.config_of(resolved)
    r = inrcodec.encode(small, codec="siren", steps=50, metrics=False, **FAST["siren"])
    assert r.settings["qat_steps"] == 5 and r.log["qat_steps"] == 5


def test_fourier_features_layout_and_bases():
    import math

    from inrcodec.codecs.inr.fourier import fourier_features, pixel_grid

    h, w, bands = 3, 5, 4
    p = pixel_grid(h, w)
    for base in (2.0, 1.4):
        f = fourier_features(h, w, bands, base)
        assert f.shape == (h * w, 2 + 4 * bands)
        assert torch.equal(f[:, :2], p)
        for i in range(2):  # y then x
            for k in range(bands):
                ang = p[:, i] * (base ** k * math.pi)
                col = 2 + i * bands + k
                assert torch.allclose(f[:, col], torch.sin(ang), atol=1e-6), (base, i, k)
                assert torch.allclose(f[:, col + 2 * bands], torch.cos(ang), atol=1e-6)
    assert fourier_features(h, w, bands, 2.0) is fourier_features(h, w, bands, 2.0)  # cached


def test_coin_sizes_match_published_parameter_counts():
    from inrcodec.codecs.registry import get_codec

    codec = get_codec("siren")
    counts = {k: sum(p.numel() for p in codec.build(codec.make_settings(k), 3).parameters())
              for k in ("5x20", "10x28", "10x40", "13x49")}
    # COIN: bpp = 16 * params / (768*512): 0.074, 0.307, 0.611, 1.209 bpp (+/- rounding)
    for k, bpp in {"5x20": 0.074, "10x28": 0.307, "10x40": 0.611, "13x49": 1.209}.items():
        assert 16 * counts[k] / (768 * 512) == pytest.approx(bpp, rel=0.02), k


def test_compile_is_automatic_only_for_long_runs():
    from inrcodec.codecs.inr.base import COMPILE_MIN_PIXEL_STEPS
    from inrcodec.compiling import wants_compile

    def auto(h, w, steps):
        return wants_compile(None, h * w, steps, COMPILE_MIN_PIXEL_STEPS)

    assert not auto(32, 32, 300)
    assert auto(512, 768, COMPILE_MIN_PIXEL_STEPS // (512 * 768) + 1)
    assert wants_compile(True, 1, 1, 1) and not wants_compile(False, 512 * 768, 10**6, 1)


def test_compiled_keeps_inductors_cache_in_the_users_cache_folder(monkeypatch, tmp_path):
    from inrcodec import compiling
    from inrcodec.compiling import compiled

    monkeypatch.setattr(compiling, "_USER_CACHE_DIR", None)  # the user set nothing
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    # torch sets the variable to its own default the first time anything asks inductor for its
    # cache (an eager SOAP step does): that is not the user's choice, and is replaced
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/torchinductor_someone")
    compiled(torch.sin)  # torch.compile compiles at the first call: nothing compiled here
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "inrcodec" / "torchinductor")
    assert (tmp_path / "inrcodec" / "torchinductor").is_dir()
    monkeypatch.setattr(compiling, "_USER_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    compiled(torch.sin)  # the user's choice stands
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "mine")
    monkeypatch.setattr(compiling, "_USER_CACHE_DIR", None)
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # cannot hold a folder
    compiled(torch.sin)  # no error: inductor's own default place
    assert not os.environ.get("TORCHINDUCTOR_CACHE_DIR", "").startswith(str(tmp_path))


def test_an_encode_moves_inductors_cache_before_its_first_step(monkeypatch, tmp_path):
    """The budget's eager probe runs SOAP before any compiled step: the cache must be in
    place before it, or torch's default (under the temporary folder) wins."""
    import inrcodec
    from inrcodec import compiling

    monkeypatch.setattr(compiling, "_USER_CACHE_DIR", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    img = inrcodec.Image(torch.rand(3, 16, 16))
    inrcodec.encode(img, "coolchic", preset="fast", iterations=3, metrics=False, lpips=False)
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "inrcodec" / "torchinductor")


def test_bf16_autocast_is_autocast_only_when_asked():
    from inrcodec.compiling import bf16_autocast

    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with bf16_autocast("cpu", True):
        assert torch.is_autocast_enabled("cpu") and (a @ b).dtype == torch.bfloat16
    with bf16_autocast("cpu", False):  # no autocast context at all (see the docstring)
        assert not torch.is_autocast_enabled("cpu") and (a @ b).dtype == torch.float32


@pytest.mark.slow
def test_compiled_training_gives_a_file_like_eager(small):
    """torch.compile'd fit (compiled for real: ~10-60 s, once) decodes and matches eager."""
    kw = dict(codec="siren", steps=120, lpips=False, **FAST["siren"])
    eager = inrcodec.encode(small, compile=False, **kw)
    comp = inrcodec.encode(small, compile=True, **kw)
    assert comp.log["compiled"] and not eager.log["compiled"]
    assert torch.equal(inrcodec.decode(comp).data, comp.reconstruction.quantized().data)
    assert abs(comp.metrics["psnr"] - eager.metrics["psnr"]) < 0.5


def test_compile_failure_falls_back_to_eager(small, monkeypatch):
    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    kw = dict(codec="siren", steps=60, lpips=False, **FAST["siren"])
    with pytest.warns(RuntimeWarning, match="eager mode"):
        fallback = inrcodec.encode(small, compile=True, **kw)
    eager = inrcodec.encode(small, compile=False, **kw)
    assert bytes(fallback) == bytes(eager)  # the fallback is exactly the eager fit
