"""Visual crops for the report: the most detailed window of one image, as each loss and each
baseline decoded it at about the same rate.

Each architecture's folder has a `crops.json` naming the row and window of every crop, so that a
later report made where the decoded files are not (rows imported from an export on another
machine) can reuse a crop of the same row and window instead of dropping it."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..image import Image
from ..io import image_to_pil, read_image
from . import plots
from .curves import Curve, anchor_loss
from .images import ImageRef, load_image
from .store import Store


def detailed_window(image: Image, size: int) -> tuple[int, int, int, int]:
    """The size x size window with the most gradient energy (the most telling crop)."""
    h, w = image.height, image.width
    size = min(size, h, w)
    g = image.data.mean(0).numpy().astype(np.float64)
    energy = np.zeros_like(g)
    energy[:, 1:] += np.abs(np.diff(g, axis=1))
    energy[1:, :] += np.abs(np.diff(g, axis=0))
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    stride = max(1, size // 4)
    best, box = -1.0, (0, 0, size, size)
    for y in range(0, h - size + 1, stride):
        for x in range(0, w - size + 1, stride):
            s = (integral[y + size, x + size] - integral[y, x + size] - integral[y + size, x]
                 + integral[y, x])
            if s > best:
                best, box = s, (x, y, x + size, y + size)
    return box


def _nearest(rows: list[dict[str, Any]], bpp: float) -> dict[str, Any] | None:
    rows = [r for r in rows if r["bpp"] and r["decoded_path"]]
    if not rows:
        return None
    return min(rows, key=lambda r: (abs(math.log(r["bpp"] / bpp)), r["seed"]))


def _save_crop(image: Image, box: tuple[int, int, int, int], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image_to_pil(image).crop(box).save(path)


SIDECAR = "crops.json"  # label -> {"job_id", "box"} of the row and window each crop shows


def _earlier_crops(reuse_from: Path | None, slug: str) -> dict[str, Any]:
    """An earlier report's sidecar for one architecture ({} when there is none)."""
    if reuse_from is None:
        return {}
    try:
        entries = json.loads((reuse_from / slug / SIDECAR).read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def visual_crops(store: Store, rows: list[dict[str, Any]], curves: list[Curve], image: str,
                 size: int, out_dir: Path, reuse_from: Path | None = None
                 ) -> list[dict[str, Any]]:
    """Per architecture: original and every loss / baseline at the bpp nearest to the anchor's
    middle rate point on `image`. A row whose decoded file is not here shows the crop of an
    earlier report in `reuse_from` (its crops folder) made of the same row and window."""
    done = [r for r in rows if r["status"] == "done" and r["image"] == image]
    if not done:
        return []
    original = _original(done[0])
    if original is None:
        return []
    box = detailed_window(original, size)
    sections = []
    base_labels = [c.label for c in curves if c.kind == "baseline"]
    for arch in sorted({c.architecture for c in curves if c.kind == "inr"}):
        arch_rows = [r for r in done if r["kind"] == "inr" and r["architecture"] == arch]
        losses = [c.loss for c in curves if c.kind == "inr" and c.architecture == arch]
        anchor = anchor_loss(losses) or (losses[0] if losses else None)
        anchor_rows = sorted((r for r in arch_rows if r["loss"] == anchor),
                             key=lambda r: r["bpp"])
        if not anchor_rows:
            continue
        target = anchor_rows[len(anchor_rows) // 2]["bpp"]
        folder = out_dir / plots._slug(arch)
        earlier = _earlier_crops(reuse_from, plots._slug(arch))
        tiles = [{"label": "original", "path": folder / "original.png", "row": None}]
        for label, kind in [(loss, "inr") for loss in losses] + [(b, "baseline")
                                                                  for b in base_labels]:
            cands = [r for r in (arch_rows if kind == "inr" else done)
                     if (r["loss"] == label if kind == "inr" else r["curve"] == label)]
            r = _nearest(cands, target)
            if r is None:
                continue
            p = folder / f"{plots._slug(label)}.png"
            path = store.artifact(r["decoded_path"])
            if path is not None and path.is_file():
                _save_crop(read_image(path), box, p)
            else:  # a report from an export: no artifacts, perhaps an earlier report's crop
                entry = earlier.get(label)
                old = reuse_from / plots._slug(arch) / p.name if reuse_from else None
                if not (isinstance(entry, dict) and entry.get("job_id") == r["job_id"]
                        and entry.get("box") == list(box) and old and old.is_file()):
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                if old.resolve() != p.resolve():
                    shutil.copyfile(old, p)
            tiles.append({"label": label, "path": p, "row": r})
        if len(tiles) > 1:  # something decoded to show beside the original
            _save_crop(original, box, folder / "original.png")
            (folder / SIDECAR).write_text(json.dumps(
                {t["label"]: {"job_id": t["row"]["job_id"], "box": list(box)}
                 for t in tiles if t["row"] is not None}, indent=1) + "\n")
            sections.append({"architecture": arch, "target_bpp": target, "box": box,
                             "tiles": tiles, "image": image})
    return sections


def _original(row: dict[str, Any]) -> Image | None:
    """The source image of a row, as its job loaded it (None when the file is not here)."""
    image = json.loads(row["job_json"])["image"]
    ref = ImageRef(image["path"], image["name"], image.get("reduce", 1),
                   tuple(image["crop"]) if image.get("crop") else None, image.get("slice"),
                   image.get("labels"))
    if not all(Path(p).is_file() for p in ref.files()):
        return None
    return load_image(ref)[0]
