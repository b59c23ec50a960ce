"""`bnnflow train` (and `python -m models.train`): the command line of models.train."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from .checkpoint import CheckpointError
from .datasets import AUGMENTATIONS, DatasetError
from .registry import UnknownModelError
from .train import PRECISIONS, PUBLISH_DIR, train
from .train_config import ConfigError, TrainConfig
from . import train as train_module


def _parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="bnnflow train", description=train_module.__doc__.splitlines()[0])
    p.add_argument("--model", default=d.model, help="registry model name (default %(default)s)")
    p.add_argument("--dataset", default=None, help="dataset name (default: the model's)")
    p.add_argument("--data-dir", default=None, help="dataset folder (Fashion-MNIST: also $BNNFLOW_DATA)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="epochs per step (default %(default)s)")
    p.add_argument("--epochs2", type=int, default=None, help="epochs of step 2 (default: --epochs)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the model's, see `make list`)")
    p.add_argument("--lr2", type=float, default=None, help="peak learning rate of step 2 (default: --lr)")
    p.add_argument("--wd1", type=float, default=d.weight_decay_step1, help="weight decay in step 1")
    p.add_argument("--wd2", type=float, default=d.weight_decay_step2, help="weight decay in step 2")
    p.add_argument("--agc", type=float, default=d.agc_lambda, help="AGC clipping lambda, 0 disables")
    p.add_argument("--one-step", action="store_true", help="binary weights from the start, no step 2")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out-dir", default=None,
                   help="also write OUT_DIR/<model>.pt (refused over a git-tracked file without --publish)")
    p.add_argument("--publish", action="store_true",
                   help=f"write the result to {PUBLISH_DIR}/<model>.pt (or --out-dir's), replacing the shipped one")
    p.add_argument("--runs-dir", default=d.runs_dir)
    p.add_argument("--resume", default=None, help="runs/<model>/last.pt of an interrupted run")
    p.add_argument("--num-workers", type=int, default=d.num_workers)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--limit-train-batches", type=int, default=None)
    p.add_argument("--limit-test-batches", type=int, default=None)
    p.add_argument("--kd-teacher", default=None,
                   help="checkpoint of a teacher model to distil from; runs/<model>/step1.pt teaches with real weights")
    p.add_argument("--kd-step1", action="store_true",
                   help="step 2 distils from the model step 1 trained (its real weights)")
    p.add_argument("--device", default=d.device)
    p.add_argument("--augment", default=None, choices=AUGMENTATIONS,
                   help="training augmentation (default: crop-flip on CIFAR-10, none on Fashion-MNIST)")
    p.add_argument("--precision", default=d.precision, choices=sorted(PRECISIONS),
                   help="bf16: mixed-precision training forward (evaluation stays float32)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def config_from_args(argv: Sequence[str] | None = None) -> TrainConfig:
    a = _parser().parse_args(argv)
    return TrainConfig(
        model=a.model, dataset=a.dataset, data_dir=a.data_dir, epochs=a.epochs, epochs_step2=a.epochs2,
        batch_size=a.batch_size, lr=a.lr, lr_step2=a.lr2, weight_decay_step1=a.wd1, weight_decay_step2=a.wd2, agc_lambda=a.agc,
        two_step=not a.one_step, seed=a.seed, out_dir=a.out_dir, publish=a.publish, runs_dir=a.runs_dir,
        resume=a.resume, num_workers=a.num_workers, threads=a.threads, limit_train_batches=a.limit_train_batches,
        limit_test_batches=a.limit_test_batches, kd_teacher=a.kd_teacher, kd_step1=a.kd_step1,
        device=a.device, precision=a.precision, augment=a.augment,
        progress=False if a.no_progress else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = config_from_args(argv)
    try:
        result = train(config)
    except UnknownModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (DatasetError, CheckpointError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        last = Path(config.runs_dir) / config.model / "last.pt"
        print(f"interrupted: {last} holds the last finished epoch; continue with --resume {last}", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"error: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        where = (f"copied to {result.published}" if result.published else
                 f"{PUBLISH_DIR}/{config.model}.pt unchanged (--publish or make train PUBLISH=1 replaces it)")
        print(f"test accuracy {result.test_accuracy:.2%}; weights {result.checkpoint}; {where}; "
              f"metrics {result.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
