"""The segmenter's training data: slices of whole cases in memory, which slices an epoch draws,
and their augmentation with MONAI transforms.

Slices are read as the compression pipeline reads them (`Case.image`, io/nifti.py: each slice
stretched onto its own 16-bit range, then [0, 1]) and kept as 16-bit codes. An epoch draws
`samples` slices of the training cases: a `tumour_fraction` of them among the slices with
tumour, the rest among all brain slices (tumour or not), so that a CPU run sees enough tumour
while still learning that most of the brain is not tumour.

Augmentation, in this order (one sample: a dict of "image" [C, H, W] in [0, 1] and "label"
[1, H, W]):
  1. on the whole slice, in the image's own units: gamma contrast (MRI contrast varies between
     scanners), a smooth multiplicative bias field (coil inhomogeneity), Gaussian blur (so that a
     blurred reconstruction does not look like a different kind of image: the segmenter runs on
     decoded images and must not prefer blur);
  2. the per-slice z-score of unet.normalise (the whole slice's statistics, as at test time);
  3. a `crop` x `crop` crop, centred on a tumour pixel or on a brain pixel outside it with equal
     odds, then a left-right flip, a small rotation / scaling, and Gaussian noise (in z units).
The network is fully convolutional and is applied to whole slices at test time.

`context > 0` gives the 2.5D input: the slice and its `context` neighbours on each side as
channels (edge slices repeated at the volume's ends).

A pipeline is deterministic under its seed: `augmentation(...).set_random_state(seed)` and the
same samples give the same outputs (the training seeds it per epoch, so that a resumed run
draws what an uninterrupted one would have drawn).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .datasets import load_case
from .split import case_id
from .unet import normalise

CODE_MAX = 65535


@dataclass
class SliceSet:
    """The slices of some cases: 16-bit codes and masks per case, and an index of brain slices."""

    names: list[str]
    codes: list[np.ndarray]  # per case [Z, H, W] uint16
    masks: list[np.ndarray]  # per case [Z, H, W] bool (label > 0)
    index: np.ndarray  # [N, 2] int: (case number, slice) of every brain slice
    area: np.ndarray  # [N] tumour pixels of each indexed slice

    @classmethod
    def load(cls, root: str | Path, names: list[str] | tuple[str, ...], modality: str = "fla",
             min_brain: float = 0.01) -> SliceSet:
        codes, masks, index, area = [], [], [], []
        for n, name in enumerate(names):
            case = load_case(root, name, modality)
            z = case.volume.shape[2]
            vol = np.empty((z, *case.volume.shape[:2]), np.uint16)
            for k in range(z):
                vol[k] = np.round(case.image(k).data[0].numpy() * CODE_MAX).astype(np.uint16)
            codes.append(vol)
            masks.append(np.ascontiguousarray(np.moveaxis(case.tumour, 2, 0)))
            for k in case.brain_slices(min_brain):
                index.append((n, k))
                area.append(int(case.tumour[:, :, k].sum()))
        return cls([case_id(n) for n in names], codes, masks, np.asarray(index, np.int64),
                   np.asarray(area, np.int64))

    def __len__(self) -> int:
        return len(self.index)

    def case_of(self, i: int) -> str:
        return self.names[int(self.index[i, 0])]

    def image(self, i: int, context: int = 0) -> np.ndarray:
        """[2*context+1, H, W] float32 in [0, 1]: the slice and its neighbours."""
        c, k = (int(v) for v in self.index[i])
        vol = self.codes[c]
        ks = np.clip(np.arange(k - context, k + context + 1), 0, vol.shape[0] - 1)
        return vol[ks].astype(np.float32) / CODE_MAX

    def mask(self, i: int) -> np.ndarray:
        c, k = (int(v) for v in self.index[i])
        return self.masks[c][k][None].astype(np.float32)

    def sample(self, i: int, context: int = 0) -> dict[str, Any]:
        """One pipeline input: image, label, and the crop centres (tumour / brain outside it)."""
        image, label = self.image(i, context), self.mask(i)
        brain = self.codes[int(self.index[i, 0])][int(self.index[i, 1])] > 0
        return {"image": image, "label": label,
                "fg": np.flatnonzero(label[0] > 0), "bg": np.flatnonzero(brain & (label[0] == 0))}


def epoch_samples(area: np.ndarray, samples: int, tumour_fraction: float,
                  rng: np.random.Generator) -> np.ndarray:
    """`samples` slice numbers: round(tumour_fraction * samples) among the slices with tumour
    (all brain slices when none has), the rest among all slices; shuffled."""
    everyone = np.arange(len(area))
    with_tumour = np.flatnonzero(area > 0)
    if len(with_tumour) == 0:
        with_tumour = everyone
    n_t = int(round(tumour_fraction * samples))
    picks = np.concatenate([rng.choice(with_tumour, n_t), rng.choice(everyone, samples - n_t)])
    return rng.permutation(picks)


def _normalise(x: Any) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    return normalise(t[None])[0]


def augmentation(crop: int, *, gamma: tuple[float, float] = (0.7, 1.5), blur_p: float = 0.3,
                 blur_sigma: tuple[float, float] = (0.5, 2.5), noise_p: float = 0.2,
                 noise_std: float = 0.1, affine_p: float = 0.3):
    """The MONAI pipeline of the module docstring (a monai.transforms.Compose)."""
    from monai.transforms import (
        Compose,
        Lambdad,
        RandAdjustContrastd,
        RandAffined,
        RandBiasFieldd,
        RandCropByPosNegLabeld,
        RandFlipd,
        RandGaussianNoised,
        RandGaussianSmoothd,
    )

    both = ["image", "label"]
    return Compose([
        RandAdjustContrastd(["image"], prob=0.5, gamma=gamma),
        RandBiasFieldd(["image"], prob=0.2, coeff_range=(0.0, 0.2)),
        RandGaussianSmoothd(["image"], prob=blur_p, sigma_x=blur_sigma, sigma_y=blur_sigma),
        Lambdad(["image"], _normalise),
        RandCropByPosNegLabeld(both, "label", (crop, crop), pos=1.0, neg=1.0, num_samples=1,
                               fg_indices_key="fg", bg_indices_key="bg", allow_smaller=True),
        RandFlipd(both, prob=0.5, spatial_axis=1),
        RandAffined(both, prob=affine_p, rotate_range=0.26, scale_range=0.1,
                    mode=("bilinear", "nearest"), padding_mode="border"),
        RandGaussianNoised(["image"], prob=noise_p, std=noise_std),
    ], map_items=True)


def batch(pipeline: Any, slices: SliceSet, picks: np.ndarray, context: int = 0
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented crops of the picked slices -> images [B, C, crop, crop], masks [B, 1, ...]."""
    xs, ms = [], []
    with warnings.catch_warnings():
        # a slice without tumour cannot give a tumour-centred crop: MONAI says so and centres it
        # on the brain instead, which is what we want
        warnings.filterwarnings("ignore", message=".*unable to generate class balanced.*")
        for i in picks:
            out = pipeline(slices.sample(int(i), context))
            out = out[0] if isinstance(out, list) else out
            xs.append(torch.as_tensor(np.asarray(out["image"]), dtype=torch.float32))
            ms.append(torch.as_tensor(np.asarray(out["label"]), dtype=torch.float32))
    return torch.stack(xs), (torch.stack(ms) > 0.5).float()
