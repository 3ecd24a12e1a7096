"""Train the whole-tumour segmenter on the split's training cases, select it on the validation
cases, checkpoint every epoch, resume.

Recipe: BCE + soft Dice over the batch (Dice copes with the small foreground fraction; over the
batch, a crop without tumour cannot make it degenerate), AdamW, a linear warm-up over the first
epoch then a cosine decay to lr/100 at the last step, `samples` augmented crops per epoch
(medical/augment.py). After each epoch the network is scored on the validation cases (mean
Dice over each case's 10 largest-tumour slices, averaged over the cases: the target's own
measure); the best epoch's weights are the run's result. The test cases never take part.

Checkpoints (`<dir>/last.pt`, written atomically after every epoch): the model, the optimiser,
the epoch, the best weights and score so far, the history, and the settings. An epoch's random
draws depend only on (seed, epoch), so a resumed run continues exactly as an uninterrupted one
would have (up to floating-point non-determinism of the kernels), and `resume` refuses a
checkpoint written with other settings.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, InputError
from .augment import SliceSet, augmentation, batch, epoch_samples
from .datasets import load_case
from .dice import soft_dice
from .evaluate import evaluate
from .split import Split, check_cases
from .unet import UNet, UNetConfig, freeze

CHECKPOINT = "last.pt"
# step, steps in the epoch, epoch (1-based), epochs, running loss, last validation score
Progress = Callable[[int, int, int, int, float, float | None], None]


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 60
    samples: int = 1600  # crops per epoch
    batch: int = 16
    crop: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    tumour_fraction: float = 0.5
    seed: int = 0
    context: int = 0  # 2.5D: neighbouring slices on each side as channels
    channels: tuple[int, ...] = (8, 16, 32, 64)
    stem: int = 2
    refine: int = 8
    modality: str = "fla"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.samples < 1 or self.batch < 1:
            raise ConfigError("epochs, samples and batch must be >= 1")
        if not (self.lr > 0 and self.weight_decay >= 0 and 0 <= self.tumour_fraction <= 1):
            raise ConfigError("lr must be > 0, weight decay >= 0, tumour fraction in [0, 1]")
        if self.crop < 16 or not 0 <= self.context <= 7:
            raise ConfigError("crop must be >= 16 and context 0..7")
        self.unet_config()  # architecture checks

    def unet_config(self) -> UNetConfig:
        return UNetConfig(tuple(self.channels), 2 * self.context + 1, self.stem, self.refine)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"channels": list(self.channels)}


def lr_at(step: int, total: int, warmup: int, lr: float) -> float:
    """Linear warm-up over `warmup` steps, then cosine from lr to lr/100 at `total`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def loss_fn(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    prob = torch.sigmoid(logits)
    return F.binary_cross_entropy_with_logits(logits, masks) + \
        1 - soft_dice(prob.reshape(1, -1), masks.reshape(1, -1))[0]


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    from ..io.files import atomic_write

    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no checkpoint to resume from")
    try:
        return torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for damaged files
        raise InputError(f"{p}: unreadable checkpoint ({type(exc).__name__}: {exc})") from None


def validation_score(result: dict[str, Any]) -> float:
    return float(result["validation"]["summary"]["mean_dice"])


def train(root: str | Path, split: Split, settings: TrainSettings, checkpoints: str | Path, *,
          resume: bool = False, init: UNet | None = None, progress: Progress | None = None,
          log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume) the training; returns {"net": best network (frozen), "best_epoch",
    "best_score", "history", "seconds", "settings"}."""
    check_cases(root, split, ("train", "validation"))
    ckpt_dir = Path(checkpoints)
    ckpt_path = ckpt_dir / CHECKPOINT
    torch.manual_seed(settings.seed)  # the initial weights
    net = UNet(settings.unet_config()) if init is None else copy.deepcopy(init)
    if net.config != settings.unet_config():
        raise ConfigError(f"--init: the weights' architecture {net.config} is not the one asked "
                          f"for ({settings.unet_config()})")
    for q in net.parameters():
        q.requires_grad_(True)
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr,
                            weight_decay=settings.weight_decay)
    start, history, seconds = 0, [], 0.0
    best: dict[str, Any] = {"epoch": 0, "score": -1.0, "state": None}
    if resume:
        state = load_checkpoint(ckpt_path)
        if state.get("settings") != settings.to_json() or \
                state.get("split") != {k: list(v) for k, v in split.parts().items()}:
            raise ConfigError(f"{ckpt_path}: written with other settings or another split "
                              f"(it has {state.get('settings')})")
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, history, best = state["epoch"], state["history"], state["best"]
        seconds = state.get("seconds", 0.0)
    elif ckpt_path.exists():
        raise ConfigError(f"{ckpt_path} exists: pass --resume to continue that run, or choose "
                          "another checkpoint folder")
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _msg: None)
    if start < settings.epochs:
        say(f"loading {len(split.train)} training and {len(split.validation)} validation cases")
        slices = SliceSet.load(root, split.train, settings.modality)
        val_cases = {n: load_case(root, n, settings.modality) for n in split.validation}
        say(f"{len(slices)} training slices ({int((slices.area > 0).sum())} with tumour)")
    steps = math.ceil(settings.samples / settings.batch)
    total = steps * settings.epochs
    pipeline = augmentation(settings.crop)
    for epoch in range(start, settings.epochs):
        t0 = time.perf_counter()
        rng = np.random.default_rng([settings.seed, epoch])
        pipeline.set_random_state(seed=int(rng.integers(2**31)))
        picks = epoch_samples(slices.area, settings.samples, settings.tumour_fraction, rng)
        net.train()
        running = 0.0
        last_score = history[-1]["validation"] if history else None
        for i in range(steps):
            x, m = batch(pipeline, slices, picks[i * settings.batch:(i + 1) * settings.batch],
                         settings.context)
            for group in opt.param_groups:
                group["lr"] = lr_at(epoch * steps + i, total, steps, settings.lr)
            loss = loss_fn(net(x), m)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += (float(loss.detach()) - running) / (i + 1)
            if progress is not None:
                progress(i + 1, steps, epoch + 1, settings.epochs, running, last_score)
        net.eval()
        result = evaluate(net, root, split, ("validation",), settings.modality, val_cases,
                          pooled=False)
        score = validation_score(result)
        seconds += time.perf_counter() - t0
        s = result["validation"]["summary"]
        history.append({"epoch": epoch + 1, "loss": running, "validation": score,
                        "validation_blurred": s["mean_dice_blurred"], "seconds": seconds})
        if score > best["score"]:
            best = {"epoch": epoch + 1, "score": score,
                    "state": {k: v.detach().clone() for k, v in net.state_dict().items()}}
        _save_checkpoint(ckpt_path, {
            "epoch": epoch + 1, "model": net.state_dict(), "optimizer": opt.state_dict(),
            "best": best, "history": history, "seconds": seconds,
            "settings": settings.to_json(),
            "split": {k: list(v) for k, v in split.parts().items()}})
        say(f"epoch {epoch + 1}/{settings.epochs}: loss {running:.4f}, validation Dice "
            f"(10 largest) {score:.4f}, blurred {s['mean_dice_blurred']:.4f}, "
            f"{seconds / 60:.1f} min so far" + (" (best)" if best["epoch"] == epoch + 1 else ""))
    final = UNet(settings.unet_config())
    final.load_state_dict(best["state"] if best["state"] is not None else net.state_dict())
    return {"net": freeze(final), "best_epoch": best["epoch"], "best_score": best["score"],
            "history": history, "seconds": seconds, "settings": settings.to_json(),
            "threads": torch.get_num_threads()}
