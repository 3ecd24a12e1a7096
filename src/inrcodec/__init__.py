"""inrcodec: image compression with implicit neural representations."""

__version__ = "0.1.0"

from .api import EncodeResult, decode, decode_cost, encode, evaluate, info  # noqa: E402
from .coding.limits import Cost, DecodeLimits  # noqa: E402
from .errors import ConfigError, DecodeError, InputError, InrCodecError  # noqa: E402
from .image import Image  # noqa: E402
from .io import read_image, write_image  # noqa: E402

__all__ = [
    "ConfigError", "Cost", "DecodeError", "DecodeLimits", "EncodeResult", "Image", "InputError",
    "InrCodecError", "decode", "decode_cost", "encode", "evaluate", "info", "read_image",
    "write_image", "__version__",
]
