"""What the segmenter costs: multiply-accumulates counted layer by layer, and a measured
forward + backward time next to an INR's training step.

Counted: every Conv2d, ConvTranspose2d and Linear (MACs = output values x inputs per output,
for a transposed conv input values x outputs per input) and the per-value work of BatchNorm
(1 MAC: an affine map in eval mode) and bilinear upsampling (4 MACs per output value). ReLU,
max-pooling, padding and concatenation move data and are not counted. FLOPs = 2 x MACs.

Inside SINCO's loss the U-Net is frozen: the backward pass computes gradients with respect to
its input only, about as many MACs again as the forward pass (each conv's transposed conv), so
forward + backward is ~2x the forward count.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def conv_macs(cin: int, cout: int, k: int, h_out: int, w_out: int, groups: int = 1) -> int:
    """MACs of a k x k convolution producing a cout x h_out x w_out map."""
    return cout * h_out * w_out * (cin // groups) * k * k


def count_macs(net: nn.Module, height: int, width: int, in_channels: int | None = None) -> int:
    """MACs of one forward pass of `net` on a [1, C, height, width] input (hooks on the layers
    listed in the module docstring; bilinear upsampling through F.interpolate is counted by
    wrapping it for the duration of the pass)."""
    total = [0]

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        x = inputs[0]
        if isinstance(module, nn.ConvTranspose2d):
            kh, kw = module.kernel_size
            total[0] += x.numel() * module.out_channels * kh * kw // module.groups
        elif isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total[0] += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            total[0] += output.numel() * module.in_features
        elif isinstance(module, nn.BatchNorm2d):
            total[0] += output.numel()

    layers = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm2d)
    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, layers)]
    real = F.interpolate

    def counted(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        out = real(x, *args, **kwargs)
        if kwargs.get("mode", "nearest") in ("bilinear", "linear"):
            total[0] += 4 * out.numel()
        return out

    channels = in_channels or getattr(getattr(net, "config", None), "in_channels", 1)
    was_training = net.training
    net.eval()
    F.interpolate = counted
    try:
        with torch.no_grad():
            net(torch.zeros(1, channels, height, width))
    finally:
        F.interpolate = real
        for h in handles:
            h.remove()
        net.train(was_training)
    return total[0]


def median_seconds(fn: Callable[[], object], repeats: int = 7, warmup: int = 2) -> float:
    """Median wall time of `fn()` over `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(sorted(times)[len(times) // 2])


def segmenter_step_seconds(net: nn.Module, height: int = 240, width: int = 240,
                           repeats: int = 7) -> float:
    """Median seconds of what SINCO's loss adds to a training step: the frozen network's forward
    pass on a reconstruction that requires grad, a soft-Dice-like scalar, and the backward pass
    to the reconstruction."""
    from .unet import freeze, normalise

    freeze(net)
    channels = getattr(getattr(net, "config", None), "in_channels", 1)
    x = torch.rand(1, channels, height, width, requires_grad=True)

    def step() -> None:
        prob = torch.sigmoid(net(normalise(x)))
        (1 - 2 * prob.mean()).backward()
        x.grad = None

    return median_seconds(step, repeats)


def describe(net: nn.Module, height: int = 240, width: int = 240) -> dict:
    """The architecture, its parameters and its cost per height x width slice, for reports."""
    config = getattr(net, "config", None)
    macs = count_macs(net, height, width)
    params = sum(p.numel() for p in net.parameters())
    arch = {"config": config.to_json() if config is not None else None, "params": params,
            "macs": macs, "gflops": 2 * macs / 1e9, "size": [height, width]}
    if config is not None:
        res = "full resolution" if config.stem == 1 else \
            f"at H/2 with {config.refine} full-resolution maps"
        arch["text"] = (f"U-Net {'-'.join(map(str, config.channels))} ({res}, "
                        f"{config.in_channels} input slice{'s' if config.in_channels > 1 else ''}"
                        f"), {params} parameters, {macs / 1e6:.0f} M MACs = "
                        f"{2 * macs / 1e9:.2f} GFLOPs per {height}x{width} slice (forward)")
    return arch
