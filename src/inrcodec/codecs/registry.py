"""Codec names -> classes. Each codec family adds one line here."""

from __future__ import annotations

from ..errors import ConfigError
from .base import Codec
from .coolchic import CoolChicV1, CoolChicV2
from .coolchic.five import CoolChic5
from .inr import NIFCodec, PEMLPCodec, SirenCodec

CODECS: dict[str, type[Codec]] = {
    SirenCodec.name: SirenCodec,
    PEMLPCodec.name: PEMLPCodec,
    NIFCodec.name: NIFCodec,
    CoolChicV1.name: CoolChicV1,
    CoolChicV2.name: CoolChicV2,
    CoolChic5.name: CoolChic5,
}


def get_codec(name: str) -> Codec:
    try:
        return CODECS[name]()
    except KeyError:
        raise ConfigError(f"unknown codec {name!r} (available: {', '.join(CODECS)})") from None
