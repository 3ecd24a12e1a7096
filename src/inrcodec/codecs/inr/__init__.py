"""Weight-INR codecs: the bitstream is the quantised, entropy-coded weights of a coordinate
network overfitted to the image.

base: the shared contract (network interface, encode/decode, setting checks); fourier: the
pixel grid and its Fourier features; siren (COIN), pe_mlp (NeRF-style PE-MLP), nif (NIF).
"""

from .base import CoordinateNet, WeightINRCodec
from .nif import NIFCodec
from .pe_mlp import PEMLPCodec
from .siren import SirenCodec

__all__ = ["CoordinateNet", "NIFCodec", "PEMLPCodec", "SirenCodec", "WeightINRCodec"]
