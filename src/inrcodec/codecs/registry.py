"""Codec names -> classes. Each codec family adds one line here."""

from __future__ import annotations

from ..errors import ConfigError
from .base import Codec
from .coolchic.codec import CoolChicV1, CoolChicV2
from .inr.nif import NIFCodec
from .inr.pe_mlp import PEMLPCodec
from .inr.siren import SirenCodec

CODECS: dict[str, type[Codec]] = {
    SirenCodec.name: SirenCodec,
    PEMLPCodec.name: PEMLPCodec,
    NIFCodec.name: NIFCodec,
    CoolChicV1.name: CoolChicV1,
    CoolChicV2.name: CoolChicV2,
}


def get_codec(name: str) -> Codec:
    try:
        return CODECS[name]()
    except KeyError:
        raise ConfigError(f"unknown codec {name!r} (available: {', '.join(CODECS)})") from None


def list_codecs() -> list[str]:
    return list(CODECS)
