"""What a training run is asked to do (TrainConfig), the steps it plans, and what it returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The training configuration cannot work (bad value, dataset/model mismatch, bad resume)."""


@dataclass
class TrainConfig:
    model: str = "tfc_w1a1_nobn"
    dataset: str | None = None  # None: the model's registry default
    data_dir: str | None = None
    epochs: int = 30  # per step; 30 + 30 reach ~85% on Fashion-MNIST for tfc_w1a1_nobn
    epochs_step2: int | None = None  # None: as many as step 1
    batch_size: int = 256  # global: split across torchrun processes
    lr: float | None = None  # None: the registry entry's learning rate
    lr_step2: float | None = None  # None: lr
    weight_decay_step1: float = 5e-6
    weight_decay_step2: float = 0.0
    agc_lambda: float = 0.02  # 0 turns AGC off
    two_step: bool = True
    seed: int = 0
    out_dir: str | None = None  # also write <out_dir>/<model>.pt; None: PUBLISH_DIR if publish, else nowhere
    publish: bool = False  # write the result to <out_dir or PUBLISH_DIR>/<model>.pt, even over a git-tracked file
    runs_dir: str = "runs"
    resume: str | None = None
    num_workers: int = 0
    threads: int | None = None
    limit_train_batches: int | None = None
    limit_test_batches: int | None = None
    kd_teacher: str | None = None
    kd_step1: bool = False  # step 2 distils from the step-1 model (real weights, frozen)
    device: str = "cpu"
    precision: str = "fp32"  # "bf16": training forward passes under bfloat16 autocast
    augment: str | None = None  # None: the dataset's default (crop-flip on CIFAR-10, none on Fashion-MNIST)
    progress: bool | None = None  # None: a bar only when stderr is a terminal


@dataclass(frozen=True)
class StepPlan:
    index: int
    binary_weights: bool
    weight_decay: float
    epochs: int
    lr: float


@dataclass
class TrainResult:
    checkpoint: Path  # runs/<model>/final.pt: the trained weights, always written
    run_dir: Path
    test_accuracy: float
    history: list[dict[str, Any]] = field(default_factory=list)
    published: Path | None = None  # the copy in out_dir (e.g. checkpoints/<model>.pt), if one was written


def plan_steps(config: TrainConfig) -> list[StepPlan]:
    """Two steps (real then binary weights), or one step with binary weights from the start.

    config.lr must be resolved (not None) by now.
    """
    lr = float(config.lr)
    if config.two_step:
        return [
            StepPlan(1, False, config.weight_decay_step1, config.epochs, lr),
            StepPlan(2, True, config.weight_decay_step2, config.epochs_step2 or config.epochs,
                     config.lr_step2 or lr),
        ]
    return [StepPlan(1, True, config.weight_decay_step1, config.epochs, lr)]
