"""Cool-chic v1 and v2: hierarchical latents, autoregressive entropy model, real range coding.

Modules: `latents` (pyramid and quantisation proxies), `upsampling`, `synthesis` (layer-spec
parser), `arm` (causal context and the float ARM used in training), `arm_int` (fixed-point ARM,
probability tables, wavefront range coding: the only path that decides what a file holds),
`model` (settings and the model), `train` (the training phases), `rdquant` (the networks'
quantisation steps), `codec` (encode and decode) and `configs` (v1 and v2, two configurations
of one codec). `five` is `coolchic`, the Cool-chic 5-class codec: its own model, coder and
training, sharing the proxies, the synthesis layer specs, the upsampling filter and the
probability tables with v1/v2 (whose behaviour and format it leaves unchanged).
"""

from .configs import CoolChicV1, CoolChicV2

__all__ = ["CoolChicV1", "CoolChicV2"]
