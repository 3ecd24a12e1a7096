"""Cool-chic v1 and v2: hierarchical latents, autoregressive entropy model, real range coding.

Modules: `latents` (pyramid and quantisation proxies), `upsampling`, `synthesis` (layer-spec
parser), `arm` (causal context and the float ARM used in training), `arm_int` (fixed-point ARM,
probability tables, wavefront range coding: the only path that decides what a file holds) and
`codec` (the two Codec classes, configurations of one implementation).
"""
