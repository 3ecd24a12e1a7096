"""`coolchic`: the Cool-chic 5-class codec (Cool-chic 3.x-5.0.1 and C3's image-coding advances).

Modules: `layout` (decoder configurations, grids and their coding order, MAC per pixel),
`entropy` (float ARM with priority-ranked contexts and stabiliser, IFCE), `upsampling`
(separable symmetric filters with pre-concatenation filters), `synthesis` (stabiliser, 5.0's
initialisation), `model` (settings and model), `optim` (SOAP for the networks, Adam for the
latents), `train` (5.0's intra schedule on fitting.train), `quant` (step search and RDOQ),
`intcoder` (fixed-point ARM + IFCE and the range coder) and `codec`.
"""

from .codec import CoolChic5

__all__ = ["CoolChic5"]
