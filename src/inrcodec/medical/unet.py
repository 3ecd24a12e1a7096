"""A small 2-D U-Net for whole-tumour segmentation, its input normalisation, and the shipped
weights.

Architecture (Ronneberger et al. 2015, shrunk): each level is two 3x3 conv + BatchNorm + ReLU;
channels 8-16-32-64 with a 128-channel bottleneck, 2x2 max-pool down, 2x2 transposed conv up,
skip concatenation, a 1x1 conv to one logit per pixel. Any H, W divisible by 16 work (240 does
not divide by 16: inputs are reflect-padded to a multiple of 16 and the output is cropped back).

Input normalisation, the same function for the original x and a reconstruction x_hat
(differentiable in x_hat): each slice is z-scored with its own statistics,

    normalise(x) = (x - mean(x)) / max(std(x), 1e-3)

over all pixels of the [0, 1] image tensor (`ref=` can supply another slice's statistics). It is
invariant to any affine intensity mapping of the slice (so the 16-bit stretch of
io/nifti.py, a shift, or a PNG of the shifted values all give the same network input).
"""

from __future__ import annotations

import functools
import io
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

WEIGHTS_NAME = "unet_wt_flair.npz"
CHANNELS = (8, 16, 32, 64, 128)
STD_FLOOR = 1e-3


def normalise(x: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
    """[N,1,H,W] -> z-scored with the per-slice statistics of `ref` (default: x itself)."""
    ref = x if ref is None else ref
    dims = tuple(range(1, ref.ndim))
    mean = ref.mean(dim=dims, keepdim=True)
    std = ref.std(dim=dims, keepdim=True).clamp_min(STD_FLOOR)
    return (x - mean) / std


class _Block(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True))


class UNet(nn.Module):
    """1 input channel -> 1 logit channel (whole tumour)."""

    def __init__(self, channels: tuple[int, ...] = CHANNELS) -> None:
        super().__init__()
        self.channels = tuple(channels)
        self.down = nn.ModuleList()
        cin = 1
        for c in channels:
            self.down.append(_Block(cin, c))
            cin = c
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for c in reversed(channels[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, c, 2, stride=2))
            self.merge.append(_Block(2 * c, c))
            cin = c
        self.head = nn.Conv2d(cin, 1, 1)

    @property
    def multiple(self) -> int:
        return 1 << (len(self.channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)[..., :h, :w]


def default_weights_path() -> Path:
    return Path(str(resources.files("inrcodec") / "weights" / WEIGHTS_NAME))


def save_weights(net: UNet, path: str | Path, info: dict | None = None) -> None:
    """fp16 .npz of the state dict (+ a JSON `info` string), written atomically."""
    import json

    from ..io import write_bytes

    arrays = {k: v.detach().cpu().numpy().astype(np.float16 if v.is_floating_point()
                                                    else v.cpu().numpy().dtype)
              for k, v in net.state_dict().items()}
    arrays["__channels__"] = np.asarray(net.channels, dtype=np.int32)
    arrays["__info__"] = np.frombuffer(json.dumps(info or {}).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes(path, buf.getvalue())


def load_unet(path: str | Path | None = None) -> UNet:
    """A frozen U-Net (eval mode, requires_grad False) from `path` or the shipped weights."""
    p = Path(path) if path is not None else default_weights_path()
    if not p.is_file():
        raise ConfigError(f"U-Net weights not found: {p} (train them with "
                          "`inrcodec medical train-unet`)")
    try:
        with np.load(p) as z:
            channels = tuple(int(c) for c in z["__channels__"])
            state = {k: torch.from_numpy(z[k].astype(np.float32) if z[k].dtype == np.float16
                                         else z[k]) for k in z.files if not k.startswith("__")}
        net = UNet(channels)
        net.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, OSError) as exc:
        raise ConfigError(f"{p}: not valid U-Net weights ({exc})") from None
    return freeze(net)


def weights_info(path: str | Path | None = None) -> dict:
    import json

    p = Path(path) if path is not None else default_weights_path()
    with np.load(p) as z:
        return json.loads(bytes(z["__info__"]).decode()) if "__info__" in z.files else {}


def freeze(net: nn.Module) -> nn.Module:
    net.eval()
    for q in net.parameters():
        q.requires_grad_(False)
    return net


@functools.lru_cache(maxsize=1)
def shipped_unet() -> UNet:
    """The package's U-Net, loaded once per process."""
    return load_unet()


def segment_logits(net: nn.Module, x: torch.Tensor, ref: torch.Tensor | None = None
                   ) -> torch.Tensor:
    """[N,C,H,W] image tensor in [0,1] (C>1: channel mean) -> [N,1,H,W] logits."""
    if x.shape[1] != 1:
        x = x.mean(dim=1, keepdim=True)
        ref = None if ref is None else ref.mean(dim=1, keepdim=True)
    return net(normalise(x, ref))


@torch.no_grad()
def segment(x: torch.Tensor, net: nn.Module | None = None, ref: torch.Tensor | None = None
            ) -> np.ndarray:
    """Hard whole-tumour mask(s) [N,H,W] bool of image tensor(s) [N,C,H,W] or [C,H,W]."""
    net = shipped_unet() if net is None else net
    if x.ndim == 3:
        x = x[None]
        ref = None if ref is None else ref[None]
    logits = segment_logits(net, x.float(), None if ref is None else ref.float())
    return (logits[:, 0] > 0).cpu().numpy()
