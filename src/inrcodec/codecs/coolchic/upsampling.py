"""Latent pyramid -> full-resolution feature stack.

Going from the coarsest level up, the running stack is upsampled 2x and cropped to the next
level's size, then that level's latents are stacked in front of it (so the output has, for
every level, its latents upsampled to the full resolution). The 2x step is a separable
transposed convolution with an 8-tap symmetric kernel (the 4 taps of one half are the
parameters) applied to every channel alike, on a replicate-padded input: initialised to (and,
for v1, fixed at) the bicubic kernel (a = -0.75), for which it equals torch's bicubic
interpolation with align_corners=False; v2 learns one kernel per level.

`learned-2d` is Cool-chic 2.0's (the ICIP 2024 study's 2.0-adaptations branch): one 8x8
kernel, not separable, shared by every level, initialised to the bicubic kernel's outer
product, applied as a stride-2 transposed convolution on the input replicate-padded by 4 and
cropped by 11 on each side (the same values as the separable bicubic at initialisation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .synthesis import replicate_pad


def _cubic(t: float, a: float = -0.75) -> float:
    t = abs(t)
    if t <= 1:
        return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
    return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a


BICUBIC_HALF = (_cubic(0.25), _cubic(0.75), _cubic(1.25), _cubic(1.75))


def _up_last(x: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """2x along the last dim of x (already replicate-padded by 2 there): polyphase form of
    the transposed convolution with kernel (h3, h2, h1, h0, h0, h1, h2, h3)."""
    n = x.shape[-1] - 4
    h0, h1, h2, h3 = half[0], half[1], half[2], half[3]
    a, b, c, d, e = (x[..., i:i + n] for i in range(5))
    if torch.is_grad_enabled() and (x.requires_grad or half.requires_grad):
        even = h3 * a + h1 * b + h0 * c + h2 * d
        odd = h2 * b + h0 * c + h1 * d + h3 * e
        return torch.stack([even, odd], dim=-1).flatten(-2)
    # decoding: the same sums in the same order, written in place into the interleaved output
    # (no stacked copy)
    out = torch.empty((*x.shape[:-1], n, 2), dtype=x.dtype, device=x.device)
    even, odd = out[..., 0], out[..., 1]
    torch.mul(a, h3, out=even)
    even += h1 * b
    even += h0 * c
    even += h2 * d
    torch.mul(b, h2, out=odd)
    odd += h0 * c
    odd += h1 * d
    odd += h3 * e
    return out.flatten(-2)


def upsample2(x: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """[..., h, w] -> [..., 2h, 2w] with the symmetric kernel (flip(half), half) on a
    replicate-padded input (pure element-wise arithmetic: cheap backward, fuses when compiled)."""
    x = replicate_pad(x, 2)
    x = _up_last(x, half)  # [..., h + 4, 2w]
    return _up_last(x.transpose(-1, -2), half).transpose(-1, -2)


def upsample2_2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """[1, C, h, w] -> [1, C, 2h, 2w] with the 8x8 `kernel` shared by every channel."""
    c, (h, w) = x.shape[1], x.shape[-2:]
    y = F.conv_transpose2d(replicate_pad(x.reshape(c, 1, h, w), 4), kernel[None, None], stride=2)
    return y[..., 11:11 + 2 * h, 11:11 + 2 * w].reshape(1, c, 2 * h, 2 * w)


def constant(values: list | tuple, rows: int | None = None) -> torch.Tensor:
    """torch.tensor(values) (repeated as `rows` rows if given) on the default device, built on
    the CPU and moved: making or repeating a tensor of data on the meta device (a decode-cost
    check's model) imports torch's symbolic shapes, ~0.4 s of a first decode."""
    t = torch.tensor(values, device="cpu")
    if rows is not None:
        t = t.repeat(rows, 1)
    return t.to(torch.empty(0).device)


def bicubic_kernel_2d() -> torch.Tensor:
    k = constant([*reversed(BICUBIC_HALF), *BICUBIC_HALF])
    return torch.outer(k, k)


class Upsampling(nn.Module):
    def __init__(self, levels: int, learned: bool, shared_2d: bool = False) -> None:
        super().__init__()
        half = constant(BICUBIC_HALF, max(levels - 1, 0))
        self.shared_2d = shared_2d
        if shared_2d:
            self.kernel = nn.Parameter(bicubic_kernel_2d())
        elif learned:
            self.halves = nn.Parameter(half)
        else:
            self.register_buffer("halves", half, persistent=False)

    def coded(self) -> torch.Tensor:
        """The tensor the file stores (a buffer when nothing is learned)."""
        return self.kernel if self.shared_2d else self.halves

    def forward(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """latents: per level (finest first) [1, c_l, h_l, w_l] (c_l may be 0)."""
        x = None
        for level in range(len(latents) - 1, -1, -1):
            y = latents[level]
            if x is not None:
                x = (upsample2_2d(x, self.kernel) if self.shared_2d
                     else upsample2(x, self.halves[level]))
                x = x[..., :y.shape[-2], :y.shape[-1]]
                x = torch.cat([y, x], dim=1) if y.shape[1] else x
            elif y.shape[1]:
                x = y
        assert x is not None
        return x
