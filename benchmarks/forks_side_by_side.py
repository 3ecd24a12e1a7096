"""The ICIP 2024 loss study's reference code and our codecs side by side, on one image.

    python benchmarks/forks_side_by_side.py --nif-fork /work/forks/nif \
        --cc1-fork /work/forks/cc-1.0-adaptations --cc2-fork /work/forks/cc-2.0-adaptations \
        --python /work/forks/venv/bin/python --shim /work/forks/shim \
        --runs nif:mse,cc1:mse --seeds 1,2,3 --sides fork,ours --workdir /work/runs/forks

The forks (INRAnalysis-ICIP24/nif, branch main; INRAnalysis-ICIP24/cool-chic, branches
1.0-adaptations and 2.0-adaptations) are NOT part of the package: each `--*-fork` is an
extracted checkout outside the repository, `--python` a venv with torch 2.13 and the forks'
small dependencies, `--shim` a folder put first on the forks' PYTHONPATH with stand-ins for
what torch 2.13 cannot import or what the measurement does not need (torchvision's transforms,
tensorboard's writer, skimage.io, lpips). What each side runs:

  nif  fork: encode.py + decode.py with configurations/ablations/losses/kodak/mse/120.yaml
       (mse) or configurations/nif/kodak/120.yaml (LcSSIM, the default); the seed replaces
       the scripts' fixed 1337. ours: nif, preset fork-120, loss mse / lcssim.
  cc1  fork: samples/run_generic.sh's command (lambda 1e-3, 1,000 iterations, 5 x 200
       warm-up, synthesis and ARM 12,12, 2 context rows, 7 grids), CC_SEED = seed.
       ours: coolchic-v1, preset icip24, loss mse / cc_lcssim.
  cc2  fork: samples/run_generic.sh's command (recipe faster, the 4-layer synthesis,
       ARM 24,24, 3 context rows), then its decode.py. ours: coolchic-v2, preset icip24.

Both sides run on one thread (the forks' own thread settings are overridden) on the image
kodim23 reduced 2x with Pillow's reduce(2). Each row: wall and CPU seconds, file bytes, bpp,
payload bytes (the coded parameters without the file's framing, where known: `payload_bytes`)
and PSNR / MS-SSIM (dB) / LPIPS of the decoded image measured by inrcodec's own metrics. Rows are
appended to OUT.jsonl as each encode finishes (a killed run resumes where it stopped); OUT.md
is rewritten from the rows: per codec and loss, the fork's spread over its seeds and ours.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "forks_side_by_side"
LAMBDA = 1e-3
IMAGE = "kodim23"

# codec key -> (our codec, our preset)
OURS = {"nif": ("nif", "fork-120"), "cc1": ("coolchic-v1", "icip24"),
        "cc2": ("coolchic-v2", "icip24")}
# our loss names for each fork's loss (the Cool-chic forks average a composite's terms)
OUR_LOSS = {("nif", "mse"): "mse", ("nif", "lcssim"): "lcssim",
            ("cc1", "mse"): "mse", ("cc1", "lcssim"): "cc_lcssim",
            ("cc2", "mse"): "mse", ("cc2", "lcssim"): "cc_lcssim"}
NIF_CONFIG = {"mse": "configurations/ablations/losses/kodak/mse/120.yaml",
              "lcssim": "configurations/nif/kodak/120.yaml"}
CC_DIST = {"mse": "mse:1.0", "lcssim": "log_cosh:1.0+ssim:0.01"}

# Runs a fork's script with its fixed seed and thread counts replaced: python -c WRAP SEED
# SCRIPT ARGS...
WRAP = """
import runpy, sys, torch
seed, script = int(sys.argv[1]), sys.argv[2]
torch.manual_seed(seed)
torch.random.manual_seed = lambda s: torch.manual_seed(seed)
torch.set_num_threads(1)
torch.set_num_threads = lambda n: None
torch.set_num_interop_threads = lambda n: None
sys.argv = sys.argv[2:]
sys.path.insert(0, str(__import__('pathlib').Path(script).resolve().parent))
runpy.run_path(script, run_name='__main__')
"""


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    with open(log, "a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        r = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{cmd[2] if len(cmd) > 2 else cmd[0]} failed:\n{tail}")


ENCODED = "encoded.json"  # in a run's folder: the fork's encode finished, with its seconds


def encode_once(cmd: list[str], cwd: Path, env: dict[str, str], log: Path,
                work: Path) -> dict[str, Any]:
    """Run a fork's encoder unless an earlier attempt finished it (ENCODED), so that a failed
    decode or a killed lane does not pay a half-hour encode again. -> the seconds of an encode
    reused from that attempt (to add to this attempt's), or {} when it ran now."""
    marker = work / ENCODED
    if marker.is_file() and (work / "compressed.bin").is_file():
        return json.loads(marker.read_text())
    t0, c0 = time.perf_counter(), _child_cpu()
    run(cmd, cwd, env, log)
    marker.write_text(json.dumps({"wall_s": round(time.perf_counter() - t0, 1),
                                  "cpu_s": round(_child_cpu() - c0, 1)}))
    return {}


def fork_side(args: argparse.Namespace, codec: str, loss: str, seed: int, image: Path,
              work: Path) -> tuple[Path, Path, str, dict[str, Any]]:
    """Run a fork's encoder (and decoder): -> (bitstream, decoded PNG, command summary, the
    seconds of an encode reused from an earlier attempt or {})."""
    py = args.python
    env = {**os.environ, "PYTHONPATH": args.shim, "OMP_NUM_THREADS": "1",
           "CC_SEED": str(seed), "CC_DEVICE": "cpu"}
    log = work / "log.txt"
    bs, dec = work / "compressed.bin", work / "decoded.png"
    if codec == "nif":
        fork = Path(args.nif_fork)
        cfg = NIF_CONFIG[loss]
        reused = encode_once([py, "-c", WRAP, str(seed), "encode.py", cfg, str(image), str(bs)],
                             fork, env, log, work)
        run([py, "-c", WRAP, str(seed), "decode.py", cfg, str(bs), str(dec)], fork, env, log)
        return bs, dec, f"nif encode.py {cfg}", reused
    fork = Path(args.cc1_fork if codec == "cc1" else args.cc2_fork)
    common = [f"--input={image}", f"--output={bs}", f"--model_save_path={work / 'model.pt'}",
              f"--enc_results_path={work / 'enc.txt'}", f"--lmbda={LAMBDA}", "--start_lr=1e-2",
              f"--dist_fn={CC_DIST[loss]}", "--device=cpu", "--latent_n_grids=7"]
    if codec == "cc1":
        extra = [f"--decoded_img_path={dec}", f"--stats_path={work / 'stats.json'}",
                 "--n_itr=1000", "--layers_synthesis=12,12", "--layers_arm=12,12",
                 "--n_ctx_rowcol=2", "--n_trial_warmup=5"]
        reused = encode_once([py, "-c", WRAP, str(seed), "src/encode.py", *common, *extra],
                             fork, env, log, work)
        return bs, dec, "cool-chic 1.0-adaptations src/encode.py " + " ".join(extra[2:]), reused
    extra = ["--recipe=faster", "--layers_arm=24,24", "--n_ctx_rowcol=3",
             "--layers_synthesis=40-1-linear-relu,3-1-linear-relu,3-3-residual-relu,"
             "3-3-residual-none"]
    reused = encode_once([py, "-c", WRAP, str(seed), "src/encode.py", *common, *extra], fork,
                         env, log, work)
    # its decode.py also writes stats against the original image, which it needs to be given
    run([py, "-c", WRAP, str(seed), "src/decode.py", f"--input={bs}", "--device=cpu",
         f"--output={dec}", f"--image_path={image}", f"--stats_path={work / 'stats.json'}"],
        fork, env, log)
    return bs, dec, "cool-chic 2.0-adaptations src/encode.py " + " ".join(extra), reused


def our_side(codec: str, loss: str, seed: int, image: Path, work: Path) -> tuple[Path, Path, str]:
    import inrcodec

    name, preset = OURS[codec]
    settings: dict[str, Any] = {} if codec == "nif" else {"lmbda": LAMBDA}
    data = inrcodec.encode(str(image), codec=name, preset=preset, loss=OUR_LOSS[codec, loss],
                           seed=seed, device="cpu", **settings)
    bs, dec = work / "ours.inr", work / "decoded.png"
    bs.write_bytes(bytes(data))
    inrcodec.write_image(inrcodec.decode(bytes(data), device="cpu"), dec)
    return bs, dec, f"{name} --preset {preset} --loss {OUR_LOSS[codec, loss]}"


def measure(image: Path, bs: Path, dec: Path) -> dict[str, float]:
    import inrcodec

    ref = inrcodec.read_image(image)
    m = inrcodec.evaluate(ref, dec)
    return {"bytes": bs.stat().st_size, "bpp": 8 * bs.stat().st_size / ref.num_pixels,
            "psnr": m["psnr"], "msssim_db": m["msssim_db"], "lpips": m["lpips"]}


def _state_size(value: Any) -> int:
    """Bytes of the values in the NIF fork's pickled state dict, counted as its own
    `calculate_state_dict_size` counts them (its `state_bpp`): by exact type, dicts recursed,
    tensors by their storage, bytes by length, int and float 4, numpy float16 2, numpy uint8
    and bool 1, anything else 0."""
    import numpy as np
    import torch

    if type(value) is dict:
        return sum(_state_size(v) for v in value.values())
    if type(value) is torch.Tensor:
        return value.nelement() * value.element_size()
    if type(value) is bytes:
        return len(value)
    sizes = {int: 4, float: 4, np.float16: 2, np.uint8: 1, bool: 1}
    return sizes.get(type(value), 0)


def payload_bytes(codec: str, side: str, bs: Path) -> int | None:
    """The coded parameters without the file's framing: ours, the .inr's sections (no
    container header); the NIF fork, the values of its pickled state dict (no pickle opcodes
    or key names); None for the Cool-chic forks, whose bitstream headers are not parsed here."""
    if side == "ours":
        from inrcodec.api import info

        return int(info(bs.read_bytes())["payload_bytes"])
    if codec == "nif":
        import pickle

        with open(bs, "rb") as fh:  # the fork's own output of this run, not foreign data
            return _state_size(pickle.load(fh))
    return None


def prepare_image(workdir: Path) -> Path:
    from inrcodec.bench.protocols import protocol_images
    from inrcodec.io import write_image

    path = workdir / f"{IMAGE}-half.png"
    if not path.exists():
        write_image(protocol_images("kodak6-half", (IMAGE,))[IMAGE], path)
    return path


def load_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _fmt(values: list[float], digits: int) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return (f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f} "
            f"[{min(values):.{digits}f}, {max(values):.{digits}f}]")


NOTES = """
## Module checks and warm-up statistics

`forks_module_check.py` (`forks_module_check.txt`): with the same weights and inputs, our
`fork-120` NIF network and the NIF fork's differ by 3.8e-6 on the image; our Cool-chic v1
`icip24` model and the 1.0 fork's give the same x^ (1.8e-6), rate and gradients (latents 4e-9,
gains 7e-10); our `learned-2d` upsampling and the 2.0 fork's agree exactly with a random
kernel, and our v2 `icip24` model and the 2.0 fork's whole CoolChicEncoder (the study's layers,
random weights) give the same x^ (2.5e-6), rate and straight-through gradients (relative:
latents 3e-6, gains 8e-8). Cool-chic 1.0's 200-step warm-up trials on this image (validation
loss x 1e3, lambda 1e-3, MSE): the fork 1.55, 1.64, 1.71, 1.76, 1.92, 1.96 over its seeds; ours
1.63, 1.64, 1.85, 2.02, 2.04: the same spread, so a single encode's distance from the fork says
little; the rows above give the spread over seeds of whole encodes.

Issue 17 (ours 0.852 bpp / 32.76 dB at seed 1 against the fork's 0.55-0.58 / 33.6-33.9):
`forks_loop_check.py` runs the fork's own `train()` and our `train_cc1` from the same initial
weights: validation loss x 1e3 after 1,000 steps 1.225 (fork) / 1.232 (ours), after 200 + 1,000
(warm-up then main phase) 1.150 / 1.117, every 100-step validation within noise of the other.
The loop, schedule, clip, noise, keep-best and step counts agree. Our seed 1 is an unlucky
encode, not a systematic gap: in its main phase the finest grid's gain fell from 2^1.3 to
2^0.6 while the share of its latents parked near +-0.5 (which the noise proxy prices at almost
nothing and which round to +-1) rose from 12 % to 27 %, the rounded rate from 0.73 to 1.00 bpp
(best validation 1.313 at step 300; the fork's seeds 1-3 end at 0.917, 0.915, 1.055, ours
at 1.313, 0.921, 1.011: seed 3 ends worse on the fork's side, 0.686 bpp / 33.53 dB).
Coding costs the same on both sides: from the float model to the coded payload
+0.064 x 1e-3 in loss (ours, seed 2, sections only; the fork, seed 2: +0.064), the
latents' file 2 % above the training estimate on both; our container adds ~215 bytes
(deflated JSON header, CRC) where the fork's header is 57 (~0.013 bpp here).

NIF with both losses (3 seeds each): ours spends about 4 % fewer bits than the fork at the
same PSNR or higher (mse: -3.8 % bits, +0.2 dB; lcssim: -4.4 % bits, +0.2 dB, of which our seed
3 alone +0.4 dB), for mse and lcssim alike, and MS-SSIM and LPIPS are level (lcssim: 19.12-19.44
dB against the fork's 19.01-19.33, LPIPS 0.025-0.033 against 0.029-0.030). "Outside the fork's
spread" is on the cheaper side, and the payload column says why: the fork's file is a pickle of
its state dict, whose opcodes and key names take 924 bytes (0.075 bpp) per file. Its coded
values alone (its own `state_bpp`; lcssim, from the bitstreams with `--add-payload`) take
1.002-1.029 bpp, ours 1.031-1.044 (+1.6 %), at +0.21 dB: level within the seeds' spread, the
weights coded about as compactly on both sides.

Cool-chic 2.0, mse: where does ours lose? `forks_module_check.py --cc2-model` takes the model
the fork trained (seed 1) into ours: 1 of 294,912 output values one 8-bit level apart, the same
rounded-latent rate (0.4224 bpp). Coded by inrcodec it is 6,860 bytes of payload at the fork's
35.06 dB, against the fork's 6,788 coded bytes (its file 6,864, header 76): on the same model
our coder costs +1.1 % (the weights 1,552 bytes against 1,492: an entropy model per tensor where
the fork has one per module's weights and one per its biases; the latents 5,298 against 5,296),
and our container 171 bytes against the fork's 76-byte header (its deflated codec config
alone 129). The rest of the distance is training. Over seeds 1-3 our coded rate is the
fork's (payload 0.550-0.585 bpp against its coded 0.552-0.570) and our PSNR 0.19 dB lower
(34.83-34.97 against 35.06-35.16 dB, all three below the fork's lowest); D + lambda R on the
coded bits (x 1e3): the fork 0.865, 0.870, 0.875, ours 0.903, 0.892, 0.869 (mean +2.1 %, our
seed 3 inside the fork's range). Checked and excluded: the model and its gradients (above),
the initial weights (the same layer statistics), the phases, rates, clip, noise and
straight-through derivatives, and 2.0's gain floor (max(2^g, 1) splits the gradient at the tie
it starts from, which the first step leaves; ours clamps). `forks_loop_check.py --codec cc2`
(the first phase from the same weights, 1,000 steps, one seed per side: validation x 1e3
1.076 fork, 0.938 ours) is within the noise of a single run at that rate.

Phase by phase (`forks_cc2_phases.py`, `forks_cc2_phases-mse.md`: the fork's three encode logs
against our seeds 1 and 2 encoded again with each phase's end recorded, the same files as their
rows; validation x 1e3 with the latents' rate only): the warm-up's winner 0.871 / 0.915 / 0.973
(fork) against 1.015 / 0.971 (ours); after the 4,000-step phase 0.776 against 0.788 (means);
from phase 2 on ours stays 2.3-3.6 % above the fork's mean (phase 6 0.725 / 0.748, phase 9
before the networks are quantised 0.696 / 0.713, the end 0.736 / 0.753), its rate and its
distortion both a little higher. What the two hypotheses left at the last check cost is the
same on both sides: quantising the networks +0.016 (fork, 3 seeds: +0.015 to +0.017) against
+0.016 (ours: +0.009, +0.022), and the last, latent-only phase (after which the fork, like ours,
keeps its last state although it is worse on every seed) +0.024 (+0.017 to +0.033) against
+0.024 (+0.026, +0.022). So the distance is made before phase 2 and carried. The warm-up from
the same five initial candidates (`forks_loop_check.py --codec cc2 --warmup`, the five our
encode of that seed starts from, the fork's one_training_phase against ours): seed 1, winner
0.995 (fork) / 1.028 (ours); seed 2, 1.094 / 1.025. The fork's own loop from our seeds'
candidates lands where our encodes land (1.015, 0.971), above its own seeds' 0.871-0.973, and
the initial weights have the same distribution on both sides (per-tensor mean, SD and maximum
over 40 seeds): the warm-up's outcome varies that much from one set of initial candidates to
another, and our two traced seeds drew sets at the high end. With three seeds a side, the
difference in D + lambda R (+2.1 %) is not significant (Welch's t-test p = 0.20); the PSNR
difference (-0.19 dB) is (p = 0.04) at the same rate, and so is MS-SSIM's (-0.37 dB, 16.70-16.88
against 17.11-17.30, p = 0.01).

Cool-chic 2.0, lcssim (3 seeds a side): the quality is level and ours costs 2.4 % more bits.
PSNR 32.00-33.34 dB against the fork's 32.37-32.42 (mean +0.39, Welch p = 0.44), MS-SSIM
17.08-17.54 dB against 17.25-17.50 (-0.14, p = 0.43), LPIPS 0.036-0.041 against 0.038-0.042
(p = 0.69); our seed 3 has the best MS-SSIM and LPIPS of the six encodes, at the highest rate.
Our payload is 5,785-5,936 bytes against the fork's coded 5,656-5,748 (its files less their
76-byte header): +2.4 %, of which about +1.1 % is our coder (measured on the same model for
mse, above). Our files are 0.485-0.497 bpp against 0.466-0.474 (+4.0 %, p = 0.02; the container
~170 bytes against the fork's 76). So ours is outside the fork's spread on the rate and inside
it on every quality metric. Our PSNR spreads far more (SD 0.71 dB against 0.03): under LcSSIM,
PSNR is a by-product of how each encode balances its LogCosh and SSIM terms.

Over both losses, at about the fork's rate, ours is below the fork on mse (PSNR -0.19 dB,
MS-SSIM -0.37 dB, both significant at 3 seeds a side) and level on lcssim. The mse distance is
real and its source is not found. The checks above exclude the model and its gradients, the
initial weight distributions, the schedule, the warm-up loop from the same candidates, the
networks' quantisation and the last phase. The phase table's gap widens in phase 1 (all
modules, 500 steps at half the rate; means +1.5 % after phase 0, +5.9 % after phase 1, +3.5 %
after phase 2; our seed 1 ends phase 1 worse than it began it, 0.778 -> 0.827), but that phase
from one shared state (`forks_loop_check.py --codec cc2 --phase1`,
`forks_loop_check_cc2_phase1.txt`) ends at the same validation on both sides, noise seed by
noise seed: ours 0.8249, 0.8237, 0.8373, 0.8327, the fork 0.8247, 0.8244, 0.8376, 0.8344 (x
1e3; means -0.07 %). Left untested: more whole encodes on both sides (the warm-up's winner
varies widely with the candidates, and three seeds a side is what the issue asked for).

## Differences that remain (by design)

- NIF: the reference quantises weights by truncation toward zero in float16 (QAT and file),
  writes the decoded image by truncating to 8 bits, and codes each tensor with brotli; ours
  rounds, and codes with a Laplace range coder or brotli, whichever is shorter. Its best state
  is the one after an iteration's last sub-image step, ours the one the score was measured on.
- Cool-chic 1.0: ReduceLROnPlateau counts a validation as better only below best x (1 - 1e-4);
  ours, any lower value (neither lowers the rate within 1,000 steps). Both forks code the
  latents and networks with their own integer ARM and quantisation-step search; ours with
  inrcodec's (same context set, the scale clamped to the coder's table after training).
- Cool-chic 2.0: its warm-up and phases as in its "faster" preset; the networks' steps chosen by
  inrcodec's rate-distortion search instead of its greedy one; an entropy model per weight
  tensor (the fork: per module's weights and biases; the flagship `coolchic` groups as the
  fork does, v1 / v2 keep their format) and inrcodec's container (~170 bytes here, ~0.014 bpp).

## Reproduce

    python benchmarks/forks_side_by_side.py --runs cc1:mse,nif:mse,cc1:lcssim,nif:lcssim \\
        --seeds 1,2,3 --sides fork,ours            # resumes from forks_side_by_side.jsonl
    python benchmarks/forks_side_by_side.py --runs cc2:mse,cc2:lcssim --seeds 1,2,3
    PYTHONPATH=/work/forks/shim:src /work/forks/venv/bin/python benchmarks/forks_module_check.py \\
        --cc2-model WORK/cc2-mse-fork-1/model.pt --image WORK/kodim23-half.png
    python benchmarks/forks_cc2_phases.py --work WORK --loss mse --ours-seeds 1,2
    PYTHONPATH=/work/forks/shim:src /work/forks/venv/bin/python benchmarks/forks_loop_check.py \\
        --codec cc2 --warmup --side fork --seed 1     # and --side ours; seed 2

The forks are set up by `benchmarks/forks_env.sh NIF_GIT COOLCHIC_GIT /work/forks` (`git
archive` of INRAnalysis-ICIP24/nif, main, and INRAnalysis-ICIP24/cool-chic, 1.0-adaptations and
2.0-adaptations; a venv with torch 2.13, brotli, pytorch-msssim, einops, fvcore, pyyaml and
scipy; a shim folder with torchvision's transforms, a no-op tensorboard writer, skimage.io over
Pillow, an LPIPS stub (the 1.0 fork's stats import it; we measure LPIPS ourselves) and, in
sitecustomize.py, torch 2.13's schedulers without `verbose`). CPU estimate per seed (one
thread): NIF ~10 min per side, Cool-chic 1.0 ~3 min, Cool-chic 2.0 ~25 min.
"""


def report(rows: list[dict[str, Any]], out_md: Path) -> None:
    lines = ["# The ICIP24 forks and ours side by side (kodim23 at half size, lambda 1e-3 / "
             "NIF config 120)", "",
             "Written by `benchmarks/forks_side_by_side.py` from `forks_side_by_side.jsonl` "
             "(see its docstring for what each side runs). Mean ± standard deviation "
             "[min, max] over seeds; one thread each.", "",
             "| codec | loss | side | n | bpp | payload bpp | PSNR (dB) | MS-SSIM (dB) | LPIPS "
             "| CPU s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["codec"], r["loss"]) for r in rows})
    verdicts = []
    for codec, loss in keys:
        spread: dict[str, tuple[float, float]] = {}
        for side in ("fork", "ours"):
            sel = [r for r in rows if (r["codec"], r["loss"], r["side"]) == (codec, loss, side)]
            if not sel:
                continue
            col = {f: [r[f] for r in sel] for f in ("bpp", "psnr", "msssim_db", "lpips", "cpu_s")}
            npix = statistics.fmean(r["bytes"] / r["bpp"] * 8 for r in sel)
            payload = [8 * r["payload_bytes"] / npix for r in sel
                       if r.get("payload_bytes") is not None]
            lines.append(f"| {codec} | {loss} | {side} | {len(sel)} | {_fmt(col['bpp'], 3)} | "
                         f"{_fmt(payload, 3) if len(payload) == len(sel) else '-'} | "
                         f"{_fmt(col['psnr'], 2)} | {_fmt(col['msssim_db'], 2)} | "
                         f"{_fmt(col['lpips'], 3)} | {_fmt(col['cpu_s'], 0)} |")
            spread[side] = (statistics.fmean(col["psnr"]), statistics.fmean(col["bpp"]))
            if side == "fork":
                fork_psnr = (min(col["psnr"]), max(col["psnr"]))
                fork_bpp = (min(col["bpp"]), max(col["bpp"]))
        if "fork" in spread and "ours" in spread:
            p, b = spread["ours"]
            inside = fork_psnr[0] <= p <= fork_psnr[1] and fork_bpp[0] <= b <= fork_bpp[1]
            verdicts.append(f"- {codec} {loss}: ours {b:.3f} bpp / {p:.2f} dB against the fork's "
                            f"{fork_bpp[0]:.3f}-{fork_bpp[1]:.3f} bpp / {fork_psnr[0]:.2f}-"
                            f"{fork_psnr[1]:.2f} dB: {'inside' if inside else 'outside'} the "
                            "fork's spread")
    out_md.write_text("\n".join(lines + ["", *verdicts, ""]) + NOTES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nif-fork", default="/work/forks/nif")
    ap.add_argument("--cc1-fork", default="/work/forks/cc-1.0-adaptations")
    ap.add_argument("--cc2-fork", default="/work/forks/cc-2.0-adaptations")
    ap.add_argument("--python", default="/work/forks/venv/bin/python")
    ap.add_argument("--shim", default="/work/forks/shim")
    ap.add_argument("--runs", default="nif:mse,cc1:mse",
                    help="codec:loss pairs, codec in nif, cc1, cc2; loss mse or lcssim")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--sides", default="fork,ours")
    ap.add_argument("--workdir", default="/work/runs/forks")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--add-payload", action="store_true",
                    help="fill payload_bytes into rows that lack it from the bitstreams still "
                         "in --workdir, then report")
    args = ap.parse_args()
    out_jsonl, out_md = Path(args.out + ".jsonl"), Path(args.out + ".md")
    rows = load_rows(out_jsonl)
    if args.add_payload:
        for r in rows:
            work = Path(args.workdir) / f"{r['codec']}-{r['loss']}-{r['side']}-{r['seed']}"
            bs = work / ("ours.inr" if r["side"] == "ours" else "compressed.bin")
            if r.get("payload_bytes") is None and bs.is_file():
                r["payload_bytes"] = payload_bytes(r["codec"], r["side"], bs)
        out_jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
        args.report_only = True
    if not args.report_only:
        import torch

        torch.set_num_threads(1)
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        image = prepare_image(workdir)
        done = {(r["codec"], r["loss"], r["side"], r["seed"]) for r in rows}
        for pair in args.runs.split(","):
            codec, loss = pair.split(":")
            for seed in (int(s) for s in args.seeds.split(",")):
                for side in args.sides.split(","):
                    if (codec, loss, side, seed) in done:
                        continue
                    work = workdir / f"{codec}-{loss}-{side}-{seed}"
                    work.mkdir(parents=True, exist_ok=True)
                    t0, c0, p0 = time.perf_counter(), _child_cpu(), time.process_time()
                    reused: dict[str, Any] = {}
                    if side == "fork":
                        bs, dec, what, reused = fork_side(args, codec, loss, seed, image, work)
                    else:
                        bs, dec, what = our_side(codec, loss, seed, image, work)
                    cpu = _child_cpu() - c0 + time.process_time() - p0 + reused.get("cpu_s", 0)
                    wall = time.perf_counter() - t0 + reused.get("wall_s", 0)
                    row = {"codec": codec, "loss": loss, "side": side, "seed": seed,
                           "image": f"{IMAGE}-half", "what": what,
                           "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                           **({"timing": reused["note"]} if "note" in reused else {}),
                           **measure(image, bs, dec),
                           "payload_bytes": payload_bytes(codec, side, bs),
                           "date": datetime.date.today().isoformat()}
                    with open(out_jsonl, "a") as fh:
                        fh.write(json.dumps(row) + "\n")
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    report(rows, out_md)
    report(rows, out_md)


if __name__ == "__main__":
    sys.exit(main())
