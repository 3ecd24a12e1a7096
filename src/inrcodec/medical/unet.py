"""The whole-tumour U-Net, its input normalisation, and the shipped weights.

Architecture (Ronneberger et al. 2015, shrunk; `UNetConfig`): each level is two 3x3 conv +
BatchNorm + ReLU, 2x2 max-pool down, 2x2 transposed conv up, skip concatenation, a 1x1 conv to
one logit per pixel.

`stem = 2` runs the U-Net at half resolution, because the network sits inside SINCO's loss and
runs forward and backward at every step of an INR's training: it must cost less than the INR's
own step (see `medical/flops.py` and benchmarks/results/sinco/segmenter.md). A 3x3 conv keeps
`refine` full-resolution feature maps of the input; a strided 3x3 conv enters the U-Net at H/2;
the U-Net's last features are upsampled (bilinear) and merged with the full-resolution maps by
one 3x3 conv before the head, so that the mask's outline is drawn at full resolution. `stem = 1`
is the plain U-Net (the first shipped weights, channels 8-16-32-64-128).

`in_channels > 1` is the 2.5D input (the slice and its neighbours as channels); the shipped
network is 2D (one channel) because the codec sees one slice: inside SINCO's loss there are no
decoded neighbours to stack.

Any H, W work: inputs are reflect-padded to a multiple of the network's total downsampling and
the output is cropped back (240 = 15 x 16 needs no padding).

Input normalisation, the same function for the original x and a reconstruction x_hat
(differentiable in x_hat): each slice is z-scored with its own statistics,

    normalise(x) = (x - mean(x)) / max(std(x), 1e-3)

over all pixels of the [0, 1] image tensor (`ref=` can supply another slice's statistics). It is
invariant to any affine intensity mapping of the slice (the 16-bit stretch of io/nifti.py, a
shift, a rescaling of the volume), so any BraTS-like FLAIR volume works whatever its units.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class UNetConfig:
    channels: tuple[int, ...] = CHANNELS
    in_channels: int = 1
    stem: int = 1  # 1: full resolution; 2: the U-Net runs at H/2 (see the module docstring)
    refine: int = 8  # full-resolution feature maps with stem 2

    def __post_init__(self) -> None:
        if not (1 <= len(self.channels) <= 6 and all(1 <= c <= 512 for c in self.channels)):
            raise ConfigError("U-Net: 1 to 6 levels of 1..512 channels")
        if self.stem not in (1, 2) or not 1 <= self.in_channels <= 15 or self.refine < 1:
            raise ConfigError("U-Net: stem 1 or 2, in_channels 1..15, refine >= 1")

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"channels": list(self.channels)}

    @classmethod
    def from_json(cls, d: dict) -> UNetConfig:
        return cls(tuple(int(c) for c in d["channels"]), int(d.get("in_channels", 1)),
                   int(d.get("stem", 1)), int(d.get("refine", 8)))


def normalise(x: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
    """[N,C,H,W] -> each slice (sample, channel) z-scored with the statistics of the same slice
    of `ref` (default: x itself)."""
    ref = x if ref is None else ref
    dims = (-2, -1)
    mean = ref.mean(dim=dims, keepdim=True)
    std = ref.std(dim=dims, keepdim=True).clamp_min(STD_FLOOR)
    return (x - mean) / std


def _conv_bn(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class _Block(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(*_conv_bn(cin, cout), *_conv_bn(cout, cout))


class UNet(nn.Module):
    """in_channels -> 1 logit channel (whole tumour)."""

    def __init__(self, channels: tuple[int, ...] | UNetConfig = CHANNELS) -> None:
        super().__init__()
        config = channels if isinstance(channels, UNetConfig) else UNetConfig(tuple(channels))
        self.config = config
        self.channels = config.channels
        cin = config.in_channels
        if config.stem == 2:
            self.full = nn.Sequential(*_conv_bn(cin, config.refine))
            self.stem = nn.Sequential(*_conv_bn(config.refine, config.channels[0], stride=2))
            cin = config.channels[0]
        self.down = nn.ModuleList()
        for c in config.channels:
            self.down.append(_Block(cin, c))
            cin = c
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for c in reversed(config.channels[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, c, 2, stride=2))
            self.merge.append(_Block(2 * c, c))
            cin = c
        if config.stem == 2:
            self.fuse = nn.Sequential(*_conv_bn(cin + config.refine, config.refine))
            cin = config.refine
        self.head = nn.Conv2d(cin, 1, 1)

    @property
    def multiple(self) -> int:
        return self.config.stem << (len(self.channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        if self.config.stem == 2:
            full = self.full(x)
            x = self.stem(full)
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        if self.config.stem == 2:
            x = F.interpolate(x, size=full.shape[-2:], mode="bilinear", align_corners=False)
            x = self.fuse(torch.cat([x, full], dim=1))
        return self.head(x)[..., :h, :w]


def default_weights_path() -> Path:
    return Path(str(resources.files("inrcodec") / "weights" / WEIGHTS_NAME))


def weights_bytes(net: UNet, info: dict | None = None) -> bytes:
    """fp16 .npz of the state dict, the architecture (`__config__`) and a JSON `info`."""
    arrays = {k: v.detach().cpu().numpy().astype(np.float16 if v.is_floating_point()
                                                    else v.cpu().numpy().dtype)
              for k, v in net.state_dict().items()}
    arrays["__channels__"] = np.asarray(net.channels, dtype=np.int32)
    arrays["__config__"] = np.frombuffer(json.dumps(net.config.to_json()).encode(), np.uint8)
    arrays["__info__"] = np.frombuffer(json.dumps(info or {}).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def save_weights(net: UNet, path: str | Path, info: dict | None = None) -> None:
    """fp16 .npz (see `weights_bytes`), written atomically."""
    from ..io import write_bytes

    write_bytes(path, weights_bytes(net, info))


def load_unet(path: str | Path | None = None) -> UNet:
    """A frozen U-Net (eval mode, requires_grad False) from `path` or the shipped weights."""
    p = Path(path) if path is not None else default_weights_path()
    if not p.is_file():
        raise ConfigError(f"U-Net weights not found: {p} (train them with "
                          "`inrcodec medical train-unet`)")
    try:
        with np.load(p) as z:
            if "__config__" in z.files:
                config = UNetConfig.from_json(json.loads(bytes(z["__config__"]).decode()))
            else:  # the first shipped weights: a plain U-Net, its channels only
                config = UNetConfig(tuple(int(c) for c in z["__channels__"]))
            state = {k: torch.from_numpy(z[k].astype(np.float32) if z[k].dtype == np.float16
                                         else z[k]) for k in z.files if not k.startswith("__")}
        net = UNet(config)
        net.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, OSError, ConfigError) as exc:
        raise ConfigError(f"{p}: not valid U-Net weights ({exc})") from None
    return freeze(net)


def weights_info(path: str | Path | None = None) -> dict:
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
    """[N,C,H,W] image tensor in [0,1] -> [N,1,H,W] logits. A 2D network takes the channel
    mean of a multi-channel image; a 2.5D network takes its C slices as they are."""
    wanted = getattr(getattr(net, "config", None), "in_channels", 1)
    if x.shape[1] != wanted:
        if wanted != 1:
            raise ConfigError(f"the U-Net takes {wanted} slices, got {x.shape[1]} channels")
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
