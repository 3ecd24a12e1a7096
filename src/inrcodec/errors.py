"""Typed errors. Everything a user can trigger with bad input raises one of these."""


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
