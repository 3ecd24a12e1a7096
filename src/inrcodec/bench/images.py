"""Benchmark images: which files (or NIfTI slices) a spec names, and how a job loads one.

An `ImageRef` is a source file plus the deterministic transform the benchmark applies: Pillow's
reduce (box filter) then a crop for ordinary images; an axial slice, with optional labels from
a second volume, for NIfTI volumes. Loading returns the Image and its context (what a task
metric or a context-dependent loss term may use: `labels`).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image as PILImage

from ..errors import ConfigError, InputError
from ..image import Image
from ..io.images import pil_to_image
from ..io.nifti import is_nifti, largest_label_slices, read_labels, read_slice

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".ppm", ".webp")


@dataclass(frozen=True)
class ImageRef:
    path: str
    name: str
    reduce: int = 1
    crop: tuple[int, int, int, int] | None = None
    slice: int | None = None  # axial slice of a NIfTI volume
    labels: str | None = None  # label volume (NIfTI) whose slice `slice` goes with the image

    def files(self) -> list[str]:
        """Every file the job reads (its bytes travel to remote workers)."""
        return [self.path] + ([self.labels] if self.labels else [])


@cache
def file_sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def source_sha(ref: ImageRef) -> str:
    """The hash a job records for its source: the image file's, combined with the labels'."""
    sha = file_sha256(ref.path)
    if ref.labels:
        sha = hashlib.sha256((sha + file_sha256(ref.labels)).encode()).hexdigest()
    return sha


def load_image(ref: ImageRef, sources: dict[str, bytes] | None = None,
               expected_sha: str | None = None) -> tuple[Image, dict[str, Any]]:
    """(image, context) of a ref; `sources` maps file paths to their bytes (else read from
    disk). With `expected_sha`, refuse sources that changed since the grid was built."""
    data = {p: (sources or {}).get(p) or Path(p).read_bytes() for p in ref.files()}
    if expected_sha is not None:
        sha = hashlib.sha256(data[ref.path]).hexdigest()
        if ref.labels:
            labels_sha = hashlib.sha256(data[ref.labels]).hexdigest()
            sha = hashlib.sha256((sha + labels_sha).encode()).hexdigest()
        if sha != expected_sha:
            raise InputError(f"{ref.path}: file changed since the grid was built")
    if is_nifti(ref.path):
        image = read_slice(ref.path, ref.slice, data[ref.path])
    else:
        image = decode_source(data[ref.path], ref.reduce, ref.crop, ref.path)
    context: dict[str, Any] = {}
    if ref.labels:
        context["labels"] = read_labels(ref.labels, ref.slice, data[ref.labels],
                                        (image.height, image.width))
    return image, context


def decode_source(data: bytes, reduce: int, crop: tuple[int, ...] | list[int] | None,
                  name: str = "") -> Image:
    """Image file bytes -> the benchmark image: Pillow's reduce (box filter), then the crop."""
    with PILImage.open(io.BytesIO(data)) as im:
        im.load()
        if reduce > 1:
            im = im.reduce(reduce)
        if crop:
            x0, y0, x1, y1 = crop
            if x1 > im.width or y1 > im.height:
                raise InputError(f"{name}: crop {tuple(crop)} exceeds the "
                                 f"{im.width}x{im.height} image")
            im = im.crop((x0, y0, x1, y1))
        return pil_to_image(im, source=name)


def volume_refs(path: Path, labels: str | None, slices: list[int] | str | None,
                limit: int | None) -> list[ImageRef]:
    """One ref per chosen slice of a NIfTI volume; `slices` is a list of indices or
    "largest:N" (the N slices with the largest labelled area, which needs `labels`)."""
    if slices is None:
        raise ConfigError(f"{path}: a NIfTI volume needs `slices` (indices or \"largest:N\")")
    if isinstance(slices, str):
        kind, _, n = slices.partition(":")
        if kind != "largest" or not n.isdigit() or int(n) < 1:
            raise ConfigError(f"slices must be a list of indices or \"largest:N\", got {slices!r}")
        if not labels:
            raise ConfigError("slices = \"largest:N\" needs `labels` (a label volume)")
        slices = largest_label_slices(labels, int(n))
    stem = path.name.split(".")[0]
    case = path.parent.name
    refs = [ImageRef(str(path.resolve()), f"{case}-{stem}-z{k:03d}", slice=int(k),
                     labels=str(Path(labels).resolve()) if labels else None)
            for k in slices]
    return refs[:limit] if limit is not None else refs
