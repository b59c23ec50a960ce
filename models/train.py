"""Train a registry model with the two-step AdamBNN recipe and adaptive gradient clipping.

Step 1 trains binary activations with real weights, step 2 starts from step 1's
weights and binarizes them too (Liu et al., "How do Adam and training
strategies help BNNs optimization?", 2021). Each step uses Adam with a learning
rate decaying linearly to zero. AGC stands in for the stability batch
normalization would give ("BNN - BN = ?", Chen et al. 2021).

    bnnflow train --model tfc_w1a1_nobn --epochs 3
    torchrun --nproc_per_node 2 -m models.train --model tfc_w1a1_nobn

Writes runs/<model>/: final.pt (weights of the last epoch of the last step),
metrics.csv, metrics.json, curves.png, and last.pt to resume from. The shipped
checkpoints/<model>.pt changes only when asked:

    bnnflow train --model tfc_w1a1_nobn --epochs 30 --publish   # make train ... PUBLISH=1

--publish copies final.pt to checkpoints/<model>.pt (or --out-dir's), saying in
one line which accuracy replaces which. --out-dir DIR alone also writes
DIR/<model>.pt, but refuses before training to replace a file git tracks there
unless --publish is given. Labels outside the model's classes are refused before
training starts. Under torchrun every process trains on its shard and only rank
0 writes files.
"""
from __future__ import annotations

import copy
import math
import random
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, TensorDataset
from tqdm import tqdm

from .agc import AGC
from .train_config import ConfigError, TrainConfig, TrainResult, plan_steps
from .distill import distillation_loss, frozen, load_teacher
from .distributed import Dist, all_reduce_sum, init_distributed
from .checkpoint import RESUME_KEYS, CheckpointError, load_weights, read_checkpoint, save_checkpoint
from .datasets import AUGMENTATIONS, DatasetError, get_dataset, train_augmentation
from .layers import classifier_layer, set_weight_binarization, weighted_layers
from .metrics import plot_curves, write_metrics
from .registry import create_model, list_models, model_info


POSTFIX_EVERY = 20
PUBLISH_DIR = "checkpoints"  # where --publish puts <model>.pt unless --out-dir names another folder
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def logits_of(output: Any) -> torch.Tensor:
    """Brevitas layers may return a QuantTensor; the loss wants its float value."""
    return output.value if hasattr(output, "value") else output


def build_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Adam:
    """Adam(0.9, 0.999) with weight decay on conv/linear weights only (not gains, biases, norms)."""
    decayed = {id(m.weight) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if id(p) in decayed], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) not in decayed], "weight_decay": 0.0},
    ]
    return torch.optim.Adam([g for g in groups if g["params"]], lr=lr, betas=(0.9, 0.999))


def linear_decay(optimizer: torch.optim.Optimizer, total_iterations: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate falling linearly from its base value to 0 over the step, stepped per batch."""
    total = max(1, total_iterations)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: max(0.0, 1.0 - it / total))


def _step1_teacher(config: TrainConfig, model: nn.Module, resuming_step2: bool) -> nn.Module:
    """The teacher of a --kd-step1 run's step 2: the model as step 1 left it.

    Entering step 2 fresh, that is the model itself, copied before its weights
    turn binary; resuming in step 2, it is the step1.pt the run saved beside last.pt.
    """
    if not resuming_step2:
        return frozen(copy.deepcopy(model), real_weights=True)
    snapshot = Path(config.resume).with_name("step1.pt")
    if not snapshot.is_file():
        raise ConfigError(f"--kd-step1 resumes step 2 from {config.resume} but its teacher {snapshot} is missing; "
                          f"rerun step 2 from a step1.pt, or pass the teacher with --kd-teacher")
    return load_teacher(snapshot).to(next(model.parameters()).device)


def _train_loader(data: TensorDataset, config: TrainConfig, ctx: Dist, epoch_index: int) -> DataLoader:
    # DistributedSampler also serves the single-process case: its shuffle is a
    # pure function of (seed, epoch), which makes a resumed run replay exactly.
    sampler = DistributedSampler(data, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed)
    sampler.set_epoch(epoch_index)
    per_process = math.ceil(config.batch_size / ctx.world_size)
    # Batches of indices index the tensors directly instead of collating samples one by one.
    batches = BatchSampler(sampler, per_process, drop_last=False)
    return DataLoader(data, sampler=batches, batch_size=None, num_workers=config.num_workers)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: TensorDataset,
    batch_size: int = 1000,
    limit_batches: int | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> float:
    """Top-1 accuracy; with world_size > 1 each rank scores every world_size-th sample and the counts are summed."""
    was_training = model.training
    model.eval()
    images, labels = data.tensors[0][rank::world_size], data.tensors[1][rank::world_size]
    correct = total = 0
    for i, start in enumerate(range(0, len(labels), batch_size)):
        if limit_batches is not None and i >= limit_batches:
            break
        pred = logits_of(model(images[start : start + batch_size])).argmax(dim=1)
        correct += int((pred == labels[start : start + batch_size]).sum())
        total += len(pred)
    model.train(was_training)
    correct, total = all_reduce_sum([correct, total], Dist(rank, world_size))
    return correct / max(total, 1)


def _train_epoch(
    net: nn.Module,
    loader: DataLoader,
    agc: AGC,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    n_batches: int,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None,
    generator: torch.Generator,
    teacher: nn.Module | None,
    bar: tqdm,
    precision: str = "fp32",
) -> tuple[float, int, int]:
    """One pass; returns (summed loss, correct, seen) on this process.

    Loss and hits add up on the model's device and are read back only for the
    progress bar every POSTFIX_EVERY batches: a read per batch would make the
    host wait for an accelerator after every step.
    """
    net.train()
    loss_sum, correct, seen = 0.0, 0, 0
    device_type = next(net.parameters()).device.type
    for i, (x, y) in enumerate(loader):
        if i >= n_batches:
            break
        if augment is not None:
            x = augment(x, generator)
        with mixed_precision(device_type, precision):
            logits = logits_of(net(x)).float()
            if teacher is not None:
                with torch.no_grad():
                    target = logits_of(teacher(x)).float()
        if teacher is not None:
            loss = distillation_loss(logits, target)
        else:
            loss = F.cross_entropy(logits, y)
        agc.zero_grad()
        loss.backward()
        agc.step()
        scheduler.step()
        # The first batch turns both sums into device tensors.
        loss_sum = loss_sum + loss.detach() * len(y)
        correct = correct + (logits.detach().argmax(dim=1) == y).sum()
        seen += len(y)
        bar.update(1)
        if i % POSTFIX_EVERY == 0:
            bar.set_postfix(loss=f"{float(loss_sum) / seen:.4f}", acc=f"{int(correct) / seen:.2%}")
    return float(loss_sum), int(correct), seen


def mixed_precision(device_type: str, precision: str) -> torch.autocast:
    """Mixed precision for the training forward pass; evaluation always runs the exact float32 model.

    Binary activations and power-of-two weights are exact in bfloat16; what
    rounds is the real step-1 weights and the accumulators. On CPUs with
    AVX-512 BF16 this makes a BinaryDenseNet batch about 2x faster.
    """
    dtype = PRECISIONS[precision]
    return torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None)


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool | None:
    """Whether the CPU computes in bfloat16 natively; None where /proc/cpuinfo does not say (not Linux).

    Without AVX-512 BF16 or AMX, autocast emulates bfloat16 in software: on
    an AVX2-only EPYC a ReActNet batch took 5.7x longer than in float32.
    """
    try:
        flags = next((line.split(":", 1)[1].split() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("flags")), None)
    except OSError:
        return None
    return None if flags is None else any(flag in flags for flag in BF16_CPU_FLAGS)


def _warn_slow_bf16(config: TrainConfig) -> None:
    if config.precision == "bf16" and torch.device(config.device).type == "cpu" and cpu_has_native_bf16() is False:
        print(f"warning: this CPU has neither {' nor '.join(BF16_CPU_FLAGS)}, so bfloat16 runs emulated and "
              f"slower than float32; drop --precision bf16 (PRECISION=fp32)", file=sys.stderr, flush=True)


def _resume_state(config: TrainConfig, model: nn.Module) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    if config.resume is None:
        return None, []
    payload = read_checkpoint(config.resume)
    if payload["model"] != config.model:
        raise CheckpointError(f"checkpoint {config.resume} is for model {payload['model']!r}, not {config.model!r}")
    if any(k not in payload for k in RESUME_KEYS) or "step" not in payload["meta"]:
        raise CheckpointError(
            f"checkpoint {config.resume} has no training state to resume from; "
            f"resume from {Path(config.runs_dir) / config.model / 'last.pt'}"
        )
    if payload["meta"]["step"] > len(plan_steps(config)):
        raise ConfigError(f"checkpoint {config.resume} is from step 2 of a two-step run; drop --one-step to resume it")
    load_weights(model, payload, config.resume)
    return payload, list(payload["meta"].get("history", []))


def _validate(config: TrainConfig) -> str:
    info = model_info(config.model)  # raises UnknownModelError listing the known models
    for name in ("epochs", "batch_size", "epochs_step2"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
    for name in ("lr", "lr_step2"):
        value = getattr(config, name)
        if value is not None and value <= 0:
            raise ConfigError(f"{name} must be > 0, got {value}")
    if not config.two_step and (config.epochs_step2 is not None or config.lr_step2 is not None):
        raise ConfigError("epochs_step2 and lr_step2 set a second step, which a one-step run does not have")
    if config.kd_step1 and not config.two_step:
        raise ConfigError("kd_step1 distils step 2 from step 1, which a one-step run does not have")
    if config.kd_step1 and config.kd_teacher:
        raise ConfigError("kd_step1 and kd_teacher each name the teacher; choose one")
    if config.augment is not None and config.augment not in AUGMENTATIONS:
        raise ConfigError(f"augment must be one of {', '.join(AUGMENTATIONS)}, got {config.augment!r}")
    if config.precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {config.precision!r}")
    if config.agc_lambda < 0:
        raise ConfigError(f"agc_lambda must be >= 0, got {config.agc_lambda}")
    return config.dataset or info.dataset


def _load_data(config: TrainConfig, dataset: str, num_classes: int | None) -> tuple[TensorDataset, TensorDataset]:
    train_set = get_dataset(dataset, "train", config.data_dir)
    test_set = get_dataset(dataset, "test", config.data_dir)
    for split, data in (("train", train_set), ("test", test_set)):
        _check_labels(data.tensors[1], num_classes, f"dataset {dataset!r} ({split} split"
                      f"{f', {config.data_dir}' if config.data_dir else ''})", config.model)
    expected = model_info(config.model).input_shape
    got = tuple(train_set.tensors[0].shape[1:])
    if got != expected:
        twins = [m for m in list_models() if model_info(m).dataset == dataset
                 and model_info(m).factory is model_info(config.model).factory]
        hint = f"; train {twins[0]!r} instead, the same model sized for {dataset}" if twins else ""
        raise ConfigError(f"dataset {dataset!r} has images of shape {got}; model {config.model!r} "
                          f"expects {expected}{hint}")
    return train_set, test_set


def _check_labels(labels: torch.Tensor, num_classes: int | None, source: str, model: str) -> None:
    """Labels the loss cannot index (negative, or >= num_classes) as one line, not a torch IndexError mid-epoch."""
    outside = labels < 0
    if num_classes is not None:
        outside |= labels >= num_classes
    if not bool(outside.any()):
        return
    bad = int(labels[outside][0])
    allowed = f"0..{num_classes - 1}: model {model!r} has {num_classes} classes" if num_classes else ">= 0"
    raise DatasetError(f"{source} has label {bad}, outside {allowed} "
                       f"({int(outside.sum())} of {labels.numel()} labels are)")


def _num_classes(model: nn.Module) -> int | None:
    """Outputs of the model's last weighted layer: the classes it scores."""
    layers = weighted_layers(model)
    return getattr(layers[-1], "out_features", None) if layers else None


def publish_target(config: TrainConfig) -> Path | None:
    """Where a run writes <model>.pt besides runs/<model>/final.pt: out_dir if given, PUBLISH_DIR on --publish."""
    if config.out_dir is None and not config.publish:
        return None
    return Path(config.out_dir or PUBLISH_DIR) / f"{config.model}.pt"


def tracked_by_git(path: Path) -> bool:
    """Whether git tracks `path` in the repository holding it; False without git or outside a repository."""
    folder = path.resolve().parent
    try:
        done = subprocess.run(["git", "ls-files", "--error-unmatch", "--", path.name], cwd=folder,
                              capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _check_publish(config: TrainConfig) -> None:
    """Refuse, before any training, to replace a git-tracked checkpoint that --publish did not ask to replace."""
    target = publish_target(config)
    if target is None or config.publish or not target.is_file() or not tracked_by_git(target):
        return
    final = Path(config.runs_dir) / config.model / "final.pt"
    raise ConfigError(f"{target} is tracked by git (test accuracy {_accuracy_of(target)}) and this run would "
                      f"replace it; pass --publish (make train PUBLISH=1) to replace it, or drop --out-dir to keep the "
                      f"result in {final} only")


def _accuracy_of(path: Path) -> str:
    try:
        value = read_checkpoint(path)["meta"].get("test_accuracy")
    except CheckpointError:
        return "unreadable"
    return f"{value:.2%}" if isinstance(value, (int, float)) else "unknown"


def _publish(config: TrainConfig, target: Path, model: nn.Module, meta: dict[str, Any]) -> None:
    """Write the result to `target`, saying in one line what it replaces."""
    if target.is_file():
        tracked = " (tracked by git)" if tracked_by_git(target) else ""
        print(f"replacing {target}{tracked}: test accuracy {_accuracy_of(target)} -> {meta['test_accuracy']:.2%}",
              flush=True)
    save_checkpoint(target, config.model, model, meta)


def train(config: TrainConfig) -> TrainResult:
    """Run the configured training; under torchrun, every process calls this."""
    ctx = init_distributed()
    try:
        return _train(config, ctx)
    finally:
        if ctx.owns_group:
            dist.destroy_process_group()


def _train(config: TrainConfig, ctx: Dist) -> TrainResult:
    dataset = _validate(config)
    if ctx.is_main:
        _warn_slow_bf16(config)
    if config.lr is None:
        config = replace(config, lr=model_info(config.model).lr)
    if config.threads:
        torch.set_num_threads(config.threads)
    _check_publish(config)
    seed_everything(config.seed)
    # Built before the data is read (which draws no random numbers): its classes bound the labels.
    model = create_model(config.model)
    train_set, test_set = _load_data(config, dataset, _num_classes(model))
    device = torch.device(config.device)
    if device.type == "cuda":
        # Every batch has the same shape: let cuDNN pick its fastest kernels once.
        torch.backends.cudnn.benchmark = True
    if device.type != "cpu":
        train_set = TensorDataset(*(t.to(device) for t in train_set.tensors))
        test_set = TensorDataset(*(t.to(device) for t in test_set.tensors))

    # NHWC is what oneDNN's convolutions run in; NCHW would convert every layer twice a step.
    model = model.to(device, memory_format=torch.channels_last)
    payload, history = _resume_state(config, model)
    teacher = load_teacher(config.kd_teacher).to(device) if config.kd_teacher else None
    # DDP averages gradients across processes; every rank starts from rank 0's weights.
    net: nn.Module = nn.parallel.DistributedDataParallel(model) if ctx.active else model

    run_dir = Path(config.runs_dir) / config.model
    plans = plan_steps(config)
    batches_per_epoch = len(_train_loader(train_set, config, ctx, 0))
    if config.limit_train_batches is not None:
        batches_per_epoch = min(batches_per_epoch, config.limit_train_batches)
    augment = train_augmentation(dataset, config.augment)
    start_step = payload["meta"]["step"] if payload else 1
    start_epoch = payload["epoch"] if payload else 0

    for plan in plans:
        if plan.index < start_step or (plan.index == start_step and start_epoch >= plan.epochs):
            continue
        resumed = payload is not None and plan.index == start_step
        if config.kd_step1 and plan.index == 2:
            teacher = _step1_teacher(config, model, resuming_step2=resumed)
        set_weight_binarization(model, plan.binary_weights)
        optimizer = build_optimizer(model, plan.lr, plan.weight_decay)
        scheduler = linear_decay(optimizer, plan.epochs * batches_per_epoch)
        agc = AGC(optimizer, exclude=[classifier_layer(model)], clipping=config.agc_lambda)
        first_epoch = 1
        if resumed:
            optimizer.load_state_dict(payload["optimizer"])
            scheduler.load_state_dict(payload["scheduler"])
            first_epoch = start_epoch + 1

        for epoch in range(first_epoch, plan.epochs + 1):
            epoch_index = sum(p.epochs for p in plans[: plan.index - 1]) + epoch
            lr = optimizer.param_groups[0]["lr"]
            generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch_index * ctx.world_size + ctx.rank)
            desc = f"step {plan.index}/{len(plans)} epoch {epoch}/{plan.epochs}"
            tick = time.perf_counter()
            with tqdm(total=batches_per_epoch, desc=desc, leave=False, disable=_bar_disabled(config, ctx)) as bar:
                loss_sum, correct, seen = _train_epoch(
                    net, _train_loader(train_set, config, ctx, epoch_index), agc, scheduler,
                    batches_per_epoch, augment, generator, teacher, bar, config.precision,
                )
            loss_sum, correct, seen = all_reduce_sum([loss_sum, correct, seen], ctx)
            test_acc = evaluate(model, test_set, limit_batches=config.limit_test_batches,
                                rank=ctx.rank, world_size=ctx.world_size)
            record = {
                "step": plan.index,
                "epoch": epoch,
                "train_loss": loss_sum / max(seen, 1),
                "train_acc": correct / max(seen, 1),
                "test_acc": test_acc,
                "lr": lr,
                "epoch_seconds": time.perf_counter() - tick,
            }
            history.append(record)
            if ctx.is_main:
                print(
                    f"[{config.model}] {desc}: loss {record['train_loss']:.4f} "
                    f"train {record['train_acc']:.2%} test {test_acc:.2%} "
                    f"lr {lr:.2e} ({record['epoch_seconds']:.1f}s)",
                    flush=True,
                )
                meta = _meta(config, dataset, plan.index, test_acc, history)
                resume = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch}
                save_checkpoint(run_dir / "last.pt", config.model, model, meta, resume=resume)
                if epoch == plan.epochs and plan.index < len(plans):
                    # Kept past the next step's epochs: another step 2 (longer, other lr) resumes from here.
                    save_checkpoint(run_dir / f"step{plan.index}.pt", config.model, model, meta, resume=resume)
                write_metrics(history, run_dir)

    final_acc = history[-1]["test_acc"] if history else evaluate(model, test_set)
    checkpoint = run_dir / "final.pt"
    target = publish_target(config)
    if ctx.is_main:
        meta = _meta(config, dataset, plans[-1].index, final_acc, None)
        save_checkpoint(checkpoint, config.model, model, meta)
        write_metrics(history, run_dir)
        plot_curves(history, run_dir / "curves.png", title=f"{config.model} on {dataset}")
        if target is not None:
            _publish(config, target, model, meta)
    return TrainResult(checkpoint, run_dir, final_acc, history, target)


def _bar_disabled(config: TrainConfig, ctx: Dist) -> bool | None:
    if not ctx.is_main:
        return True
    return None if config.progress is None else not config.progress


def _meta(
    config: TrainConfig, dataset: str, step: int, test_acc: float, history: list[dict[str, Any]] | None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "dataset": dataset,
        "epochs": config.epochs,
        "two_step": config.two_step,
        "step": step,
        "test_accuracy": test_acc,
        "seed": config.seed,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": {k: v for k, v in asdict(config).items() if k != "progress"},
    }
    if history is not None:
        meta["history"] = list(history)
    return meta


if __name__ == "__main__":
    from .train_cli import main

    sys.exit(main())
