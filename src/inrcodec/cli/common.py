"""What every command shares: error handling, the `--set key=value` grammar, the training bar.

Every user-facing failure is an InrCodecError: it is printed as one line and exits with code 2.
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Callable
from typing import Any

import typer
from rich.markup import escape

from ..console import err, progress_bar
from ..errors import ConfigError, InrCodecError


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn typed errors into a one-line message and exit code 2 (Ctrl-C into 130)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InrCodecError as exc:
            # one line, whatever the message holds (a library's multi-line text) and however
            # narrow the terminal: markup in it is escaped, nothing is wrapped
            message = escape(" ".join(str(exc).split()))
            err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/yellow]")
            raise typer.Exit(130) from None

    return wrapper


def parse_value(raw: str) -> Any:
    """One grammar for `--set`, `--rate` and spec files: a TOML value (1e-3, 5, true, [1, 2],
    "text"); a bare comma list of TOML values is a list ("120,40,28" -> [120, 40, 28]); any
    other text is a string (e.g. a synthesis spec "40-1-linear-relu,X-1-linear-none")."""
    raw = raw.strip()
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for text in (raw, f"[{raw}]" if "," in raw else None):
        if text is None:
            continue
        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            pass
    return raw


def parse_pairs(items: list[str] | None, flag: str = "--set") -> dict[str, Any]:
    """["layers=5", "width=20 steps=3"] -> {"layers": 5, "width": 20, "steps": 3}."""
    out: dict[str, Any] = {}
    for item in " ".join(items or []).split():
        if "=" not in item:
            raise ConfigError(f"{flag} expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        out[key.strip().replace("-", "_")] = parse_value(raw)
    return out


class TrainingProgress:
    """A progress bar fed by the codecs' Progress events: one task per phase (per file and
    phase, after `start_file`), and with `files` an overall bar over the images."""

    def __init__(self, enabled: bool, files: int = 0) -> None:
        self.enabled = enabled
        self.bar = progress_bar("[bold]{task.description:<6}", "{task.fields[loss]}",
                                "{task.fields[psnr]}", "{task.fields[rate]}",
                                enabled=enabled)
        self.tasks: dict[str, int] = {}
        self.prefix = ""
        self.files = None if not files else self.bar.add_task(
            "images", total=files, loss="", psnr="", rate="")

    def start_file(self, name: str) -> None:
        if self.files is not None and self.prefix:
            self.bar.advance(self.files)
        self.prefix = f"{name} "

    def __enter__(self) -> TrainingProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.files is not None and self.prefix:
            self.bar.update(self.files, completed=self.bar.tasks[self.files].total)
        self.bar.__exit__(*exc)

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        name = self.prefix + p.phase
        if name not in self.tasks:
            self.tasks[name] = self.bar.add_task(name, total=p.total, loss="", psnr="",
                                                 rate="")
        task_id = self.tasks[name]
        speed = self.bar.tasks[task_id].speed
        psnr = f"{p.psnr:.2f} dB" if p.psnr is not None and math.isfinite(p.psnr) else "-"
        self.bar.update(task_id, completed=p.step, loss=f"loss {p.loss:.3g}", psnr=f"PSNR {psnr}",
                        rate=f"{speed:.1f} it/s" if speed else "")


def fmt(value: float | None, unit: str = "", digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}{unit}"


def floats(text: str, flag: str) -> list[float]:
    try:
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ConfigError(f"{flag} expects comma-separated numbers, got {text!r}") from None


def ints(text: str | None, flag: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ConfigError(f"{flag} expects comma-separated integers, got {text!r}") from None


def names(items: list[str] | str | None) -> list[str]:
    """Comma lists and repeated options -> one list of names."""
    if isinstance(items, str):
        items = [items]
    return [p.strip() for item in items or [] for p in item.split(",") if p.strip()]
