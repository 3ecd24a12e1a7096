"""Train the whole-tumour U-Net on one case and test it on another (no test slice in training).

Recipe (SINCO trained with BCE, Adam 1e-4, batch 8): BCE + soft Dice loss over the batch (Dice
helps with the small foreground fraction), Adam, batch 8, random left-right / up-down flips,
contrast jitter (x ** g with g log-uniform in [1/gamma, gamma], before normalisation) and random
`crop` x `crop` crops (half of them centred on a random tumour pixel, so that a CPU run sees
enough tumour; the network is fully convolutional and is tested on whole 240x240 slices).
Training slices: every slice of the training case(s) with brain in it (tumour or not). The saved
weights are the last step's (no model selection on the test case).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .datasets import Case, load_case
from .dice import dice, soft_dice
from .unet import UNet, freeze, normalise, save_weights


def case_tensors(case: Case, slices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """-> images [N,1,H,W] in [0,1] (as read by the pipeline), masks [N,1,H,W] float."""
    xs = torch.stack([case.image(k).data for k in slices])
    ms = torch.from_numpy(np.stack([case.mask(k) for k in slices])[:, None].astype(np.float32))
    return xs, ms


def random_crops(x: torch.Tensor, m: torch.Tensor, size: int, rng: np.random.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """size x size crops of each sample; half centred on a random tumour pixel when present."""
    h, w = x.shape[-2:]
    if size >= min(h, w):
        return x, m
    xs, ms = [], []
    for i in range(x.shape[0]):
        fg = torch.nonzero(m[i, 0])
        if len(fg) and rng.random() < 0.5:
            cy, cx = fg[rng.integers(len(fg))].tolist()
            top = int(np.clip(cy - size // 2, 0, h - size))
            left = int(np.clip(cx - size // 2, 0, w - size))
        else:
            top, left = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        xs.append(x[i, :, top:top + size, left:left + size])
        ms.append(m[i, :, top:top + size, left:left + size])
    return torch.stack(xs), torch.stack(ms)


@torch.no_grad()
def evaluate_case(net: torch.nn.Module, case: Case, slices: list[int] | None = None,
                  batch: int = 8) -> dict[str, float]:
    """Volume Dice over `slices` (default: brain slices) and mean per-slice Dice over the
    slices with tumour among them."""
    net.eval()
    slices = case.brain_slices() if slices is None else slices
    preds = []
    for i in range(0, len(slices), batch):
        x, _ = case_tensors(case, slices[i:i + batch])
        preds.append((net(normalise(x))[:, 0] > 0).numpy())
    pred = np.concatenate(preds)
    gt = np.stack([case.mask(k) for k in slices])
    per = [dice(p, g) for p, g in zip(pred, gt, strict=True) if g.any()]
    return {"volume_dice": dice(pred, gt), "mean_slice_dice": float(np.mean(per)) if per else 1.0,
            "slices": len(slices), "tumour_slices": len(per)}


def train_unet(root: str | Path, train_cases: list[str], test_case: str, modality: str = "fla",
               *, epochs: int = 40, batch: int = 8, lr: float = 1e-4, crop: int = 128,
               gamma: float = 1.5, seed: int = 0, init: str | Path | None = None,
               out: str | Path | None = None,
               progress: Callable[[int, int, float], None] | None = None) -> dict:
    """Train, save (fp16 .npz, atomically) and return the log with test Dice."""
    if test_case in train_cases:
        raise ValueError("the test case must not be a training case")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xs, ms = [], []
    for name in train_cases:
        case = load_case(root, name, modality)
        x, m = case_tensors(case, case.brain_slices())
        xs.append(x)
        ms.append(m)
    x_all, m_all = torch.cat(xs), torch.cat(ms)
    test = load_case(root, test_case, modality)
    if init is not None:  # continue from saved weights (e.g. a second, lower-lr stage)
        from .unet import load_unet

        net = load_unet(init)
        net.train()
        for q in net.parameters():
            q.requires_grad_(True)
    else:
        net = UNet()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n = x_all.shape[0]
    steps_per_epoch = (n + batch - 1) // batch
    total = epochs * steps_per_epoch
    t0, step, history = time.perf_counter(), 0, []
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(n)
        running = 0.0
        for i in range(0, n, batch):
            idx = torch.from_numpy(order[i:i + batch])
            x = x_all[idx]
            if gamma > 1:  # contrast jitter: x ** g, log g uniform in [-log gamma, log gamma]
                g = torch.from_numpy(np.exp(rng.uniform(-1, 1, (len(idx), 1, 1, 1))
                                            * np.log(gamma))).float()
                x = x.clamp_min(0) ** g
            # normalised per whole slice (as at test time), then cropped
            x, m = random_crops(normalise(x), m_all[idx], crop, rng)
            if rng.random() < 0.5:
                x, m = x.flip(-1), m.flip(-1)
            if rng.random() < 0.5:
                x, m = x.flip(-2), m.flip(-2)
            logits = net(x)
            prob = torch.sigmoid(logits)
            # Dice over the whole batch (a crop without tumour cannot make it degenerate)
            loss = F.binary_cross_entropy_with_logits(logits, m) + \
                1 - soft_dice(prob.reshape(1, -1), m.reshape(1, -1))[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            running += float(loss.detach())
            if progress is not None:
                progress(step, total, float(loss.detach()))
        history.append({"epoch": epoch + 1, "loss": running / steps_per_epoch})
    seconds = time.perf_counter() - t0
    freeze(net)
    study = test.largest_tumour_slices(10)
    log = {
        "init": None if init is None else str(init), "train_cases": list(train_cases),
        "test_case": test_case, "modality": modality,
        "epochs": epochs, "batch": batch, "lr": lr, "seed": seed, "train_slices": n,
        "loss": "bce+soft_dice(batch)", "crop": crop, "gamma": gamma,
        "augmentation": "random flips (lr, ud), gamma contrast jitter, random crops "
                        "(half centred on tumour)",
        "seconds": seconds, "history": history,
        "test": evaluate_case(net, test),
        "test_10_largest": evaluate_case(net, test, study) | {"slice_ids": study},
        "train": evaluate_case(net, load_case(root, train_cases[0], modality)),
    }
    if out is not None:
        save_weights(net, out, log)
    return log
