"""Knowledge distillation: a frozen teacher and the loss the student learns its outputs with."""
from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import load_model
from .layers import set_weight_binarization


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against the teacher's softmax (ReActNet's distributional loss)."""
    return -(F.softmax(teacher, dim=1) * F.log_softmax(student, dim=1)).sum(dim=1).mean()


def load_teacher(path: str | os.PathLike) -> nn.Module:
    """A frozen model from a checkpoint, computing what it computed when it was saved.

    A step-1 snapshot of a two-step run (runs/<model>/step1.pt) was trained
    with real weights, so it teaches with real weights, not with their signs.
    """
    teacher, meta = load_model(path)
    return frozen(teacher, real_weights=bool(meta.get("two_step")) and meta.get("step") == 1)


def frozen(teacher: nn.Module, real_weights: bool) -> nn.Module:
    """The teacher in eval mode, without gradients, with real weights if it was trained with them."""
    if real_weights:
        set_weight_binarization(teacher, False)
    return teacher.eval().requires_grad_(False)
