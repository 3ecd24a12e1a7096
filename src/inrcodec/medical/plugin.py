"""The medical plugin: registers SINCO's loss terms and the segmentation Dice metric.

Found through the `inrcodec.plugins` entry point (pyproject.toml), so the core registries learn
these names without importing this package until one of them is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..image import Image
from ..losses import register
from ..metrics import TaskMetric, register_metric


def segmentation_dice(ref: Image, dist: Image, context: Mapping[str, Any]) -> float:
    """Dice of the shipped U-Net's whole-tumour mask of the decoded image against the labels
    (g normalises each image with its own statistics, as a receiver would)."""
    from .dice import dice
    from .unet import segment

    return dice(segment(dist.data)[0], np.asarray(context["labels"], dtype=bool))


def register_all() -> None:
    from .task_loss import RegistryTerm

    register("sinco", RegistryTerm(use_labels=True))
    register("sinco_g", RegistryTerm(use_labels=False))
    register_metric(TaskMetric("dice", segmentation_dice, "Dice (U-Net vs labels)",
                               higher_is_better=True, needs=("labels",)))
