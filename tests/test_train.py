import gzip
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tqdm import tqdm

import models.train as train_module
from models.agc import AGC
from models.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from models.datasets import DatasetError, get_dataset
from models.layers import set_weight_binarization
from models.registry import create_model
from models.train import TrainConfig, evaluate, train
from models.train_cli import main

REPO = Path(__file__).resolve().parents[1]
NAME = "tfc_w1a1_nobn"


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _learnable_split(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # Class c lights up rows 2c..2c+3 over background noise: easy, but not trivial for a binary net.
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 60, (n, 28, 28))
    for i, c in enumerate(labels):
        images[i, 2 * c + 2 : 2 * c + 6, 4:24] = rng.integers(180, 256, (4, 20))
    return images, labels


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fake_fashion")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 640), ("t10k", 200)):
        images, labels = _learnable_split(rng, n)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


def _config(tmp_path: Path, data_dir: Path, **overrides) -> TrainConfig:
    base = dict(
        model=NAME, data_dir=str(data_dir), epochs=1, batch_size=64, seed=3,
        out_dir=str(tmp_path / "checkpoints"), runs_dir=str(tmp_path / "runs"), progress=False,
        threads=1,  # robust to a busy machine; OpenMP spinning on 2 threads is not
    )
    base.update(overrides)
    return TrainConfig(**base)


def test_two_step_run_writes_checkpoint_and_metrics(tmp_path, data_dir, capsys):
    result = train(_config(tmp_path, data_dir, epochs=2))
    assert [(r["step"], r["epoch"]) for r in result.history] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    # Learning-rate decay restarts at the base value in each step and falls linearly.
    assert [r["lr"] for r in result.history] == pytest.approx([2e-3, 1e-3, 2e-3, 1e-3])
    assert result.history[1]["train_loss"] < result.history[0]["train_loss"]
    assert result.test_accuracy > 0.5
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"[{NAME}]")]
    assert len(lines) == 4

    assert result.checkpoint == tmp_path / "runs" / NAME / "final.pt"
    assert result.published == tmp_path / "checkpoints" / f"{NAME}.pt"  # out_dir given: a copy there too
    assert _same_weights(result.checkpoint, result.published)
    model, meta = load_model(result.checkpoint, NAME)
    assert meta["test_accuracy"] == result.test_accuracy and meta["step"] == 2 and meta["dataset"] == "fashion_mnist"
    assert "optimizer" not in read_checkpoint(result.checkpoint)  # the shipped file is weights only
    # The checkpoint is the binary-weight model that scored the reported accuracy.
    assert evaluate(model, get_dataset("fashion_mnist", "test", data_dir)) == result.test_accuracy

    run_dir = tmp_path / "runs" / NAME
    assert result.run_dir == run_dir
    csv_lines = (run_dir / "metrics.csv").read_text().splitlines()
    assert csv_lines[0] == "step,epoch,train_loss,train_acc,test_acc,lr,epoch_seconds" and len(csv_lines) == 5
    assert json.loads((run_dir / "metrics.json").read_text()) == result.history
    assert (run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run_dir / "last.pt").is_file()


def test_epoch_totals_are_the_sums_over_its_batches(data_dir):
    """The loss and hits an epoch adds up on the device equal the per-batch values."""
    torch.manual_seed(0)
    model = create_model(NAME)
    images, labels = get_dataset("fashion_mnist", "train", data_dir).tensors
    batches = [(images[a:b], labels[a:b]) for a, b in ((0, 64), (64, 128), (128, 138))]
    optimizer = train_module.build_optimizer(model, 0.0, 0.0)  # lr 0: the weights never move
    scheduler = train_module.linear_decay(optimizer, len(batches))
    with torch.no_grad():
        scores = [train_module.logits_of(model(x)) for x, _ in batches]
    expected_loss = sum(float(torch.nn.functional.cross_entropy(s, y)) * len(y) for s, (_, y) in zip(scores, batches))
    expected_hits = sum(int((s.argmax(1) == y).sum()) for s, (_, y) in zip(scores, batches))
    with tqdm(disable=True) as bar:
        loss_sum, correct, seen = train_module._train_epoch(
            model, batches, AGC(optimizer), scheduler, len(batches), None, torch.Generator(), None, bar)
    assert seen == 138 and correct == expected_hits
    assert loss_sum == pytest.approx(expected_loss, rel=1e-5)


@pytest.mark.parametrize("lr, expected", [(None, 5e-4), (1e-3, 1e-3)])
def test_learning_rate_defaults_to_the_registry_entry(tmp_path, data_dir, lr, expected):
    """cnv_w1a1_nobn registers 5e-4 (2e-3 diverges in step 1); --lr overrides it."""
    result = train(_config(tmp_path, data_dir, model="cnv_w1a1_nobn", lr=lr, two_step=False,
                           limit_train_batches=1, limit_test_batches=1))
    assert result.history[0]["lr"] == pytest.approx(expected)
    _, meta = load_model(result.checkpoint, "cnv_w1a1_nobn")
    assert meta["config"]["lr"] == pytest.approx(expected)


def _same_weights(a: Path, b: Path) -> bool:
    x, y = read_checkpoint(a)["state_dict"], read_checkpoint(b)["state_dict"]
    return all(torch.equal(x[k], y[k]) for k in x)


def _interrupt_at_evaluation(monkeypatch, n: int) -> None:
    """The n-th end-of-epoch evaluation raises KeyboardInterrupt, as a user's ^C would."""
    calls = {"n": 0}
    real_evaluate = train_module.evaluate

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", interrupting)


def test_resume_replays_an_interrupted_run_exactly(tmp_path, data_dir, monkeypatch):
    whole = train(_config(tmp_path / "whole", data_dir, epochs=2))

    _interrupt_at_evaluation(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path / "split", data_dir, epochs=2))
    monkeypatch.undo()
    last = tmp_path / "split" / "runs" / NAME / "last.pt"
    assert read_checkpoint(last)["epoch"] == 1  # interrupted in the middle of step 1

    resumed = train(_config(tmp_path / "split", data_dir, epochs=2, resume=str(last)))
    assert [(r["step"], r["epoch"]) for r in resumed.history] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert _same_weights(whole.checkpoint, resumed.checkpoint)
    assert resumed.test_accuracy == whole.test_accuracy


def test_step_two_reruns_from_the_step_one_snapshot_with_its_own_length_and_rate(tmp_path, data_dir):
    first = train(_config(tmp_path / "a", data_dir, epochs=1, epochs_step2=2, lr_step2=1e-3))
    assert [(r["step"], r["epoch"], r["lr"]) for r in first.history] == [
        (1, 1, pytest.approx(2e-3)), (2, 1, pytest.approx(1e-3)), (2, 2, pytest.approx(5e-4))]
    snapshot = tmp_path / "a" / "runs" / NAME / "step1.pt"
    assert read_checkpoint(snapshot)["meta"]["step"] == 1

    rerun = train(_config(tmp_path / "b", data_dir, epochs=1, epochs_step2=1, resume=str(snapshot)))
    assert [(r["step"], r["epoch"]) for r in rerun.history] == [(1, 1), (2, 1)]
    assert rerun.history[0] == first.history[0]  # step 1 is not trained again
    assert rerun.history[1]["lr"] == pytest.approx(2e-3)


def test_one_step_run_rejects_step_two_settings(tmp_path, data_dir):
    with pytest.raises(train_module.ConfigError, match="one-step"):
        train(_config(tmp_path, data_dir, two_step=False, epochs_step2=3))


def test_bf16_training_learns_and_reports_the_float32_model(tmp_path, data_dir):
    """Mixed precision is for the training forward only: the reported accuracy is the exact model's."""
    result = train(_config(tmp_path, data_dir, epochs=2, precision="bf16"))
    assert result.history[1]["train_loss"] < result.history[0]["train_loss"]
    assert result.test_accuracy > 0.5
    model, _ = load_model(result.checkpoint, NAME)
    assert evaluate(model, get_dataset("fashion_mnist", "test", data_dir)) == result.test_accuracy
    fp32 = train(_config(tmp_path / "fp32", data_dir, epochs=2))
    assert fp32.history[0]["train_loss"] != result.history[0]["train_loss"]  # the forward did change


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse avx2 avx512f avx512_bf16", True),
    ("fpu sse avx2 amx_bf16 amx_tile", True),
    ("fpu sse avx2 fma", False),
])
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: {flags}\n")
    assert train_module.cpu_has_native_bf16(cpuinfo) is expected
    assert train_module.cpu_has_native_bf16(tmp_path / "absent") is None


def test_bf16_on_a_cpu_without_it_warns_in_one_line(tmp_path, data_dir, monkeypatch, capsys):
    monkeypatch.setattr(train_module, "cpu_has_native_bf16", lambda: False)
    train(_config(tmp_path, data_dir, epochs=1, precision="bf16"))
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "avx512_bf16" in warnings[0] and "PRECISION=fp32" in warnings[0]


def test_unknown_precision_is_a_config_error(tmp_path, data_dir):
    with pytest.raises(train_module.ConfigError, match="precision must be one of fp32, bf16"):
        train(_config(tmp_path, data_dir, precision="fp16"))


def test_resume_needs_training_state(tmp_path, data_dir):
    result = train(_config(tmp_path, data_dir, two_step=False, limit_train_batches=2))
    assert [r["step"] for r in result.history] == [1]
    with pytest.raises(CheckpointError, match="no training state"):
        train(_config(tmp_path, data_dir, resume=str(result.checkpoint)))


def test_distillation_from_a_teacher_checkpoint(tmp_path, data_dir):
    teacher = train(_config(tmp_path / "teacher", data_dir, two_step=False, limit_train_batches=3))
    student = train(_config(tmp_path / "student", data_dir, kd_teacher=str(teacher.checkpoint), limit_train_batches=3))
    assert len(student.history) == 2 and all(np.isfinite(r["train_loss"]) for r in student.history)


def test_a_real_valued_teacher_trains_teaches_and_has_no_build(tmp_path, data_dir):
    """resnet20_real has no binary layer: it trains in one step (AGC leaves its classifier alone),
    its checkpoint teaches a binary student, and the hardware flow refuses it before any work."""
    from flows.build.steps import BuildConfig
    from flows.errors import BuildConfigError

    teacher = train(_config(tmp_path / "teacher", data_dir, model="resnet20_real", two_step=False,
                            limit_train_batches=3))
    assert [r["step"] for r in teacher.history] == [1]
    x = get_dataset("fashion_mnist", "test", data_dir).tensors[0][:8]
    assert train_module.logits_of(train_module.load_teacher(teacher.checkpoint)(x)).shape == (8, 10)
    student = train(_config(tmp_path / "student", data_dir, kd_teacher=str(teacher.checkpoint), limit_train_batches=3))
    assert len(student.history) == 2 and all(np.isfinite(r["train_loss"]) for r in student.history)
    with pytest.raises(BuildConfigError, match="resnet20_real is a real-valued teacher"):
        BuildConfig(model="resnet20_real", checkpoint=teacher.checkpoint, output_dir=tmp_path / "build")


def test_a_step_one_teacher_keeps_its_real_weights(tmp_path, data_dir):
    train(_config(tmp_path, data_dir, limit_train_batches=3))
    snapshot = tmp_path / "runs" / NAME / "step1.pt"
    teacher = train_module.load_teacher(snapshot)
    real = create_model(NAME).eval()
    real.load_state_dict(read_checkpoint(snapshot)["state_dict"])
    x = get_dataset("fashion_mnist", "test", data_dir).tensors[0][:32]
    binary = train_module.logits_of(real(x))
    set_weight_binarization(real, False)
    expected = train_module.logits_of(real(x))
    got = train_module.logits_of(teacher(x))
    assert torch.equal(got, expected) and not torch.equal(got, binary)
    assert not any(p.requires_grad for p in teacher.parameters())


def test_step_two_distils_from_step_one_in_process_and_on_resume(tmp_path, data_dir, monkeypatch):
    kd = dict(epochs=1, epochs_step2=2, limit_train_batches=3)
    whole = train(_config(tmp_path / "whole", data_dir, kd_step1=True, **kd))
    snapshot = tmp_path / "whole" / "runs" / NAME / "step1.pt"
    # The same step 2, taught by the saved step-1 snapshot: the in-process teacher is that model.
    by_file = train(_config(tmp_path / "file", data_dir, kd_teacher=str(snapshot), resume=str(snapshot), **kd))
    assert _same_weights(whole.checkpoint, by_file.checkpoint)
    plain = train(_config(tmp_path / "plain", data_dir, **kd))
    assert not _same_weights(whole.checkpoint, plain.checkpoint)

    _interrupt_at_evaluation(monkeypatch, 3)  # step 2, epoch 2
    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path / "split", data_dir, kd_step1=True, **kd))
    monkeypatch.undo()
    last = tmp_path / "split" / "runs" / NAME / "last.pt"
    assert read_checkpoint(last)["meta"]["step"] == 2
    alone = tmp_path / "alone" / "last.pt"  # mid-step 2, without the step1.pt that teaches it
    alone.parent.mkdir()
    alone.write_bytes(last.read_bytes())
    resumed = train(_config(tmp_path / "split", data_dir, kd_step1=True, resume=str(last), **kd))
    assert _same_weights(whole.checkpoint, resumed.checkpoint)

    with pytest.raises(train_module.ConfigError, match="step1.pt is missing"):
        train(_config(tmp_path / "alone", data_dir, kd_step1=True, resume=str(alone), **kd))


@pytest.mark.parametrize("overrides, match", [
    (dict(two_step=False), "one-step"),
    (dict(kd_teacher="teacher.pt"), "choose one"),
])
def test_kd_step1_rejects_runs_without_a_step_one_teacher(tmp_path, data_dir, overrides, match):
    with pytest.raises(train_module.ConfigError, match=match):
        train(_config(tmp_path, data_dir, kd_step1=True, **overrides))


def test_cli_unknown_model_lists_known_ones(capsys):
    assert main(["--model", "no_such_net"]) == 2
    err = capsys.readouterr().err
    assert "no_such_net" in err and NAME in err and "Traceback" not in err


def test_cli_missing_dataset_is_a_clear_error(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path / "absent"), "--out-dir", str(tmp_path), "--runs-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "dataset-fashion-mnist" in err and str(tmp_path / "absent") in err and "Traceback" not in err


def test_cli_dataset_shape_mismatch(tmp_path, capsys):
    folder = tmp_path / "cifar"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, 1]}, f, protocol=2)
    assert main(["--dataset", "cifar10", "--data-dir", str(folder), "--runs-dir", str(tmp_path)]) == 1
    assert "expects (1, 28, 28)" in capsys.readouterr().err
    assert main(["--model", "cnv_w1a1_nobn", "--dataset", "cifar10", "--data-dir", str(folder),
                 "--runs-dir", str(tmp_path)]) == 1
    assert "train 'cnv_w1a1_nobn_cifar10' instead" in capsys.readouterr().err

    # The registry's CIFAR-10 entry trains on it, and its checkpoint rebuilds the 3-channel model.
    assert main(["--model", "cnv_w1a1_nobn_cifar10", "--data-dir", str(folder), "--epochs", "1", "--one-step",
                 "--out-dir", str(tmp_path), "--runs-dir", str(tmp_path), "--no-progress"]) == 0
    model, meta = load_model(tmp_path / "cnv_w1a1_nobn_cifar10.pt")
    assert meta["dataset"] == "cifar10"
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 32, 32)).shape[-1] == 10


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path, data_dir):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "models.train", "--model", NAME, "--data-dir", str(data_dir), "--epochs", "1",
        "--batch-size", "64", "--threads", "1", "--no-progress",
        "--out-dir", str(tmp_path / "checkpoints"), "--runs-dir", str(tmp_path / "runs"),
    ]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    # Only rank 0 prints epoch lines and writes files.
    assert done.stdout.count(f"[{NAME}] step") == 2
    model, meta = load_model(tmp_path / "checkpoints" / f"{NAME}.pt")
    assert meta["test_accuracy"] == evaluate(model, get_dataset("fashion_mnist", "test", data_dir))
    assert sorted(p.name for p in (tmp_path / "runs" / NAME).iterdir()) == [
        "curves.png", "final.pt", "last.pt", "metrics.csv", "metrics.json", "step1.pt"
    ]


QUICK = dict(two_step=False, limit_train_batches=2, limit_test_batches=2)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture
def shipped(tmp_path) -> Path:
    """A git repository whose checkpoints/<NAME>.pt is committed, as the shipped ones are."""
    repo = tmp_path / "repo"
    (repo / "checkpoints").mkdir(parents=True)
    _git(repo, "init", "-q")
    path = save_checkpoint(repo / "checkpoints" / f"{NAME}.pt", NAME, create_model(NAME), {"test_accuracy": 0.8541})
    _git(repo, "add", "checkpoints")
    _git(repo, "commit", "-q", "-m", "ship")
    return path


def test_a_run_writes_only_its_run_folder_unless_asked(tmp_path, data_dir, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    result = train(_config(tmp_path, data_dir, out_dir=None, **QUICK))
    assert result.checkpoint == tmp_path / "runs" / NAME / "final.pt" and result.published is None
    assert "optimizer" not in read_checkpoint(result.checkpoint)
    assert load_model(result.checkpoint, NAME)[1]["test_accuracy"] == result.test_accuracy
    assert not (tmp_path / "checkpoints").exists()
    assert "replacing" not in capsys.readouterr().out


def test_publish_writes_checkpoints_and_says_what_it_replaces(tmp_path, data_dir, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    old = save_checkpoint(tmp_path / "checkpoints" / f"{NAME}.pt", NAME, create_model(NAME), {"test_accuracy": 0.25})
    result = train(_config(tmp_path, data_dir, out_dir=None, publish=True, **QUICK))
    assert result.published == Path("checkpoints") / f"{NAME}.pt"
    assert _same_weights(result.checkpoint, old)
    assert read_checkpoint(old)["meta"]["test_accuracy"] == result.test_accuracy
    replaced = [line for line in capsys.readouterr().out.splitlines() if line.startswith("replacing")]
    assert replaced == [f"replacing {result.published}: test accuracy 25.00% -> {result.test_accuracy:.2%}"]


def test_a_git_tracked_checkpoint_is_replaced_only_with_publish(tmp_path, data_dir, shipped, capsys):
    before = shipped.read_bytes()
    runs = tmp_path / "runs"
    with pytest.raises(train_module.ConfigError) as err:
        train(_config(tmp_path, data_dir, out_dir=str(shipped.parent), **QUICK))
    message = str(err.value)
    assert str(shipped) in message and "tracked by git" in message and "85.41%" in message and "--publish" in message
    assert shipped.read_bytes() == before
    assert not runs.exists()  # refused before training, not after hours of it

    result = train(_config(tmp_path, data_dir, out_dir=str(shipped.parent), publish=True, **QUICK))
    assert result.published == shipped and _same_weights(result.checkpoint, shipped)
    replaced = [line for line in capsys.readouterr().out.splitlines() if line.startswith("replacing")]
    assert replaced == [f"replacing {shipped} (tracked by git): test accuracy 85.41% -> {result.test_accuracy:.2%}"]


def test_cli_refuses_a_tracked_checkpoint_in_one_line(tmp_path, data_dir, shipped, capsys):
    args = ["--data-dir", str(data_dir), "--epochs", "1", "--one-step", "--limit-train-batches", "1",
            "--limit-test-batches", "1", "--no-progress", "--threads", "1", "--runs-dir", str(tmp_path / "runs")]
    assert main(args + ["--out-dir", str(shipped.parent)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tracked by git" in err and "Traceback" not in err
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"weights {tmp_path / 'runs' / NAME / 'final.pt'}" in out and "checkpoints/tfc_w1a1_nobn.pt unchanged" in out
    assert read_checkpoint(shipped)["meta"]["test_accuracy"] == 0.8541


def test_tracked_by_git_without_git_or_repository(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    path.write_bytes(b"x")
    assert not train_module.tracked_by_git(path)  # not in a repository

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(train_module.subprocess, "run", no_git)
    assert not train_module.tracked_by_git(path)


def test_makefile_passes_publish_through(make_n):
    dry = {v: make_n("train", *v).stdout for v in ((), ("PUBLISH=1",), ("PUBLISH=0",))}
    assert "--publish" in dry[("PUBLISH=1",)]
    assert "--publish" not in dry[()] and "--publish" not in dry[("PUBLISH=0",)]


@pytest.fixture
def bad_label_dir(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    for prefix, n in (("train", 64), ("t10k", 32)):
        images, labels = _learnable_split(rng, n)
        if prefix == "train":
            labels[[5, 9]] = 10
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return tmp_path


def test_a_label_the_model_has_no_class_for_is_refused_before_training(tmp_path, bad_label_dir, monkeypatch, capsys):
    trained = []
    monkeypatch.setattr(train_module, "_train_epoch", lambda *a, **k: trained.append(1))
    assert main(["--data-dir", str(bad_label_dir), "--epochs", "1", "--no-progress",
                 "--runs-dir", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "IndexError" not in err
    assert "train split" in err and "label 10" in err and "0..9" in err and "2 of 64" in err
    assert not trained and not (tmp_path / "runs").exists()


def test_a_negative_label_is_refused(tmp_path, data_dir, monkeypatch):
    real = train_module.get_dataset

    def with_negative(name, split, root=None):
        data = real(name, split, root)
        if split == "test":
            data.tensors[1][7] = -1
        return data

    monkeypatch.setattr(train_module, "get_dataset", with_negative)
    with pytest.raises(DatasetError, match=r"test split.* has label -1, outside 0\.\.9"):
        train(_config(tmp_path, data_dir, **QUICK))
