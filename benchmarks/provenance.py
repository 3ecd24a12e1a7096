"""What every benchmark row records about where it ran: the commit, the machine, the load.
Imported by the scripts beside it (`python benchmarks/X.py` puts this folder on sys.path)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    """The short commit of the checkout the benchmark runs from, with '+' when its tracked
    files differ from it ('?' outside git)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              check=True, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--",
                                "src"], capture_output=True).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+" if dirty else "")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"


def stamp() -> dict:
    """commit, machine, date, command and the 1-minute load average now."""
    return {"commit": commit(), "machine": machine(), "date": time.strftime("%F"),
            "command": " ".join(["python", *sys.argv]), "load_avg": os.getloadavg()[0]}


NOTES = "<!-- notes: kept when the report is rewritten -->"


def write_report(md: Path, text: str) -> None:
    """Write a generated report to `md`, keeping whatever follows the NOTES marker in the file
    already there (the hand-written reading of the numbers)."""
    old = md.read_text() if md.exists() else ""
    notes = old.split(NOTES, 1)[1] if NOTES in old else "\n"
    md.write_text(text.rstrip("\n") + "\n\n" + NOTES + notes)
