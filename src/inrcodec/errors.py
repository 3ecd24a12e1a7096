"""Typed errors. Everything a user can trigger with bad input raises one of these."""

import sys
from collections.abc import Callable


class InrCodecError(Exception):
    """Base class: the CLI turns any of these into a one-line message and exit code 2."""


class InputError(InrCodecError):
    """An input image, file or option is unusable (not an image, unsupported mode, bad value)."""


class DecodeError(InrCodecError):
    """An .inr file is corrupt, truncated, of an unknown version or otherwise undecodable.

    The message is one line whatever a hostile file put into it (whitespace is collapsed)."""

    def __init__(self, message: object = "") -> None:
        super().__init__(" ".join(str(message).split()))


class ConfigError(InrCodecError):
    """A codec, preset, loss or setting name or value is invalid."""


def run_script(main: Callable[[], None]) -> None:
    """Run a benchmark or helper script's main: a typed error or an unreadable file becomes one
    line on stderr and exit code 2, as the CLI does, instead of a traceback."""
    try:
        main()
    except (InrCodecError, OSError) as exc:  # e.g. a missing or unreadable store or file
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(2)
