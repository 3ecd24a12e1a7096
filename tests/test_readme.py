"""The README as a user reads it: every `inrcodec` command it shows names a real command with
real options, and its Python examples run (on small stand-ins for its file names). The
commands in the fenced blocks of benchmarks/**/*.md (how each result was made) are checked
the same way."""

import re
import shlex
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import typer
from PIL import Image as PILImage

from conftest import SAMPLE
from inrcodec.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "benchmarks").rglob("*.md"))]


def _blocks(lang: str, path: Path = README) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(), flags=re.S)


def _command_lines() -> list[str]:
    lines = []
    for block in (b for doc in DOCS for b in _blocks("[a-z]*", doc)):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("inrcodec "):
                lines.append(line)
    return list(dict.fromkeys(lines))


def test_the_readme_shows_commands():
    assert len(_command_lines()) >= 25


@pytest.mark.parametrize("line", _command_lines())
def test_every_readme_command_and_option_exists(line):
    tokens = shlex.split(line)[1:]
    command = typer.main.get_command(app)  # a click-style command tree (typer's own click)
    path = []
    while hasattr(command, "commands") and tokens and not tokens[0].startswith("-"):
        name = tokens.pop(0)
        assert name in command.commands, f"{line}: no command {' '.join([*path, name])!r}"
        command, path = command.commands[name], [*path, name]
    assert not hasattr(command, "commands"), f"{line}: {' '.join(path)} needs a command"
    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    for t in tokens:
        if t.startswith("-") and not re.fullmatch(r"-?[0-9.e+-]+", t):
            assert t.split("=")[0] in known, f"{line}: {' '.join(path)} has no option {t}"


def _python_blocks() -> list[str]:
    return _blocks("python")


def test_the_readme_shows_python():
    assert len(_python_blocks()) >= 2


def test_readme_python_api_example_runs(tmp_path, monkeypatch):
    """The API example, its image a 48x32 crop of the shipped sample and 40 steps."""
    block = next(b for b in _python_blocks() if "inrcodec.encode(\"img.png\"" in b)
    PILImage.open(SAMPLE).crop((80, 40, 128, 72)).save(tmp_path / "img.png")
    monkeypatch.chdir(tmp_path)
    code = block.replace("steps=2000", "steps=40")
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert (tmp_path / "out.png").exists()
    assert scope["image"].width == 48 and len(scope["data"]) > 0


def test_readme_medical_python_example_runs(tmp_path, monkeypatch):
    """The SINCO example on a synthetic 48x48x90 FLAIR-like volume with a labelled blob, the
    encode cut to 5 steps: the names, signatures and shapes are the README's."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    blob = ((yy - 24) ** 2 + (xx - 20) ** 2) < 60
    vol = rng.integers(200, 400, (48, 48, 90)).astype(np.int16)
    vol[blob, :] += 500
    seg = np.zeros((48, 48, 90), np.uint8)
    seg[blob, :] = 2
    affine = np.eye(4)
    nib.save(nib.Nifti1Image(vol, affine), tmp_path / "fla.nii.gz")
    nib.save(nib.Nifti1Image(seg, affine), tmp_path / "seg.nii.gz")
    monkeypatch.chdir(tmp_path)
    block = next(b for b in _python_blocks() if "sinco_loss" in b)
    code = block.replace("loss=loss)", "loss=loss, steps=5)")
    assert code != block
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["seg"].shape == (48, 48) and scope["seg"].sum() == blob.sum()
    assert len(scope["data"]) > 0
