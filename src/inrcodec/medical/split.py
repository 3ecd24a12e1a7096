"""The segmenter's case split: train / validation / test, by case, never by slice.

The packaged split (`inrcodec/data/brats18_split.json`) holds the 38 BraTS 2018 cases of
../shared/data/mri/brats18 (32 train, 6 validation, drawn once with a seeded generator, see the
file's description) and the compression study's two cases as the test cases. Case names are
folder names relative to the data root; a test case may live beside it ("../TCGA-DU-7294").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import ConfigError, InputError

SPLIT_NAME = "brats18_split.json"
PARTS = ("train", "validation", "test")


@dataclass(frozen=True)
class Split:
    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.train or not self.validation:
            raise ConfigError("split: train and validation need at least one case each")
        seen: dict[str, str] = {}
        for part in PARTS:
            for name in getattr(self, part):
                key = case_id(name)
                if key in seen:
                    raise ConfigError(f"split: case {key!r} is in both {seen[key]} and {part}")
                seen[key] = part

    def parts(self) -> dict[str, tuple[str, ...]]:
        return {part: getattr(self, part) for part in PARTS}


def case_id(name: str) -> str:
    """A case's identity: its folder's name, wherever the folder is."""
    return Path(name).name


def default_split_path() -> Path:
    return Path(str(resources.files("inrcodec") / "data" / SPLIT_NAME))


def load_split(path: str | Path | None = None) -> Split:
    """The split in a JSON file {"train": [...], "validation": [...], "test": [...]}."""
    p = Path(path) if path is not None else default_split_path()
    if not p.is_file():
        raise InputError(f"{p}: no such split file")
    try:
        d = json.loads(p.read_text())
        parts = {k: tuple(str(n) for n in d.get(k, ())) for k in PARTS}
    except (json.JSONDecodeError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not a split file ({exc})") from None
    return Split(**parts)


def check_cases(root: str | Path, split: Split, parts: tuple[str, ...] = PARTS) -> None:
    """InputError naming the first case of `parts` with no <root>/<case>/ folder."""
    for part in parts:
        for name in getattr(split, part):
            if not (Path(root) / name).is_dir():
                raise InputError(f"{Path(root) / name}: no such case folder ({part} case of "
                                 "the split)")
