"""Run one benchmark job: load the image, encode, decode the real bytes, measure.

Runs in a worker (process pool or Ray task) and touches no database or output folder: it
returns everything, artifacts included, and the driver stores it. That keeps one writer for
the database and lets Ray workers run on machines that do not share a disk with the driver.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import platform
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage
from PIL import features

from .. import __version__
from ..image import Image
from ..io import image_to_pil
from .grid import Job
from .images import load_image


@dataclass
class Outcome:
    job_id: str
    status: str  # "done" | "failed"
    row: dict[str, Any]  # result columns (see store.RESULT_COLUMNS)
    encoded: bytes | None = None
    encoded_ext: str = ""
    decoded_png: bytes | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def png_bytes(image: Image) -> bytes:
    buf = io.BytesIO()
    image_to_pil(image).save(buf, format="PNG")
    return buf.getvalue()


def _float(v: float | None) -> float | None:
    # SQLite stores inf (a lossless PSNR) as a REAL; None stays NULL (e.g. LPIPS not asked for)
    return None if v is None else float(v)


def _codec_version(job: Job) -> str:
    if job.kind == "inr":
        return f"inrcodec {__version__}"
    if job.codec in ("jpegxl", "jpeg2000"):
        import imagecodecs

        if job.codec == "jpegxl":
            return f"libjxl {imagecodecs.jpegxl_version()}"
        return f"openjpeg {imagecodecs.jpeg2k_version()}"
    lib = {"jpeg": "libjpeg_turbo", "webp": "webp", "avif": "avif"}.get(job.codec)
    if lib is None:
        return job.codec
    return f"{job.codec} {features.version(lib)} (Pillow {PILImage.__version__})"


def _measure(job: Job, ref: Image, decoded: Image, context: dict[str, Any]
             ) -> dict[str, Any]:
    from ..metrics import evaluate, evaluate_task

    m = evaluate(ref, decoded, lpips=job.lpips)
    row: dict[str, Any] = {k: _float(m.get(k))
                           for k in ("psnr", "ssim", "msssim", "msssim_db", "lpips")}
    if job.metrics:
        task = evaluate_task(job.metrics, ref, decoded, context)
        row["task_metrics_json"] = json.dumps(task, sort_keys=True)
    return row


def _run_inr(job: Job, image: Image, context: dict[str, Any]
             ) -> tuple[dict[str, Any], bytes, Image]:
    from .. import api
    from ..losses import parse_loss

    settings = {**job.settings_dict(), **job.rate_dict()}
    loss = parse_loss(job.loss)
    if context and loss.uses_context:
        loss = loss.bind(context)
    res = api.encode(image, codec=job.codec, loss=loss, preset=job.variant, seed=job.seed,
                     device=job.device, metrics=False, **settings)
    data = bytes(res)
    t0 = time.perf_counter()
    decoded = api.decode(data, device=job.device)
    decode_seconds = time.perf_counter() - t0
    diff = np.abs(res.reconstruction.to_codes().astype(np.int64) -
                  decoded.to_codes().astype(np.int64)).max()
    row = {"bytes": len(data), "bpp": res.bpp, "payload_bpp": res.payload_bpp,
           "encode_seconds": res.encode_seconds, "decode_seconds": decode_seconds,
           "decode_max_diff": int(diff), "device_used": res.device,
           "settings_json": json.dumps(res.settings, sort_keys=True, default=str),
           "log_json": json.dumps(res.log, sort_keys=True, default=str)}
    return row, data, decoded


def _run_baseline(job: Job, image: Image, context: dict[str, Any]
                  ) -> tuple[dict[str, Any], bytes, Image]:
    from ..baselines import encode_at_bpp, get_baseline, run_baseline

    base = get_baseline(job.codec, job.variant)
    rate = job.rate_dict()
    if "target_bpp" in rate:
        r = encode_at_bpp(base, image, rate["target_bpp"])
        knob = {"target_bpp": rate["target_bpp"], "knob": r.knob}
    else:
        r = run_baseline(base, image, rate["quality"])
        knob = {"quality": rate["quality"]}
    payload = len(r.data)
    row = {"bytes": payload, "bpp": 8.0 * payload / image.num_pixels,
           # a baseline's file is its payload: container headers are part of what it costs
           "payload_bpp": 8.0 * payload / image.num_pixels,
           "encode_seconds": r.encode_seconds, "decode_seconds": r.decode_seconds,
           "decode_max_diff": 0, "device_used": "cpu",
           "settings_json": json.dumps(knob | {"description": base.description}),
           "log_json": "{}"}
    return row, r.data, r.decoded


def run_job(job: Job, sources: dict[str, bytes] | None = None) -> Outcome:
    """Never raises for a job-level failure: the error is recorded as the job's outcome.
    `sources`: the bytes of the job's files by path (remote workers), else read from disk."""
    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    env = {"host": socket.gethostname(), "threads": torch.get_num_threads(),
           "inrcodec_version": __version__, "torch_version": torch.__version__,
           "python_version": platform.python_version(), "pid": os.getpid(),
           "started_at": started}
    try:
        env["codec_version"] = _codec_version(job)
        image, context = load_image(job.image, sources, job.image_sha)
        run = _run_inr if job.kind == "inr" else _run_baseline
        row, data, decoded = run(job, image, context)
        row.update(_measure(job, image, decoded, context))
        row.update(env, width=image.width, height=image.height, error=None,
                   job_seconds=time.perf_counter() - t0,
                   finished_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
        ext = "inr" if job.kind == "inr" else _ext(job)
        return Outcome(job.job_id, "done", row, data, ext, png_bytes(decoded))
    except Exception as exc:  # noqa: BLE001 - any failure of one job is data, not a crash
        tb = traceback.format_exc()
        env.update(error=f"{type(exc).__name__}: {exc}", traceback=tb[-4000:],
                   job_seconds=time.perf_counter() - t0,
                   finished_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
        return Outcome(job.job_id, "failed", env)


def _ext(job: Job) -> str:
    from ..baselines import get_baseline

    return get_baseline(job.codec, job.variant).extension
