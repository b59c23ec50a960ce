import json

import pytest

from models.compare import RunError, main, read_history
from models.metrics import write_metrics


def _history(accs):
    return [
        {"step": 1 if i < 2 else 2, "epoch": i % 2 + 1, "train_loss": 1.0 / (i + 1), "train_acc": a,
         "test_acc": a, "lr": 1e-3, "epoch_seconds": 1.0}
        for i, a in enumerate(accs)
    ]


def test_overlays_runs_into_a_png(tmp_path, capsys):
    write_metrics(_history([0.5, 0.6, 0.55, 0.7]), tmp_path / "a")
    write_metrics(_history([0.4, 0.5, 0.45]), tmp_path / "b")
    out = tmp_path / "plots" / "cmp.png"
    assert main([f"lr 2e-3={tmp_path / 'a'}", f"lr 5e-4={tmp_path / 'b' / 'metrics.json'}", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reads_a_metrics_csv_like_its_json(tmp_path):
    history = _history([0.5, 0.6, 0.55])
    csv_path, json_path = write_metrics(history, tmp_path / "a")
    assert read_history(csv_path) == read_history(json_path) == history
    bad = tmp_path / "bad.csv"
    bad.write_text("step,epoch,test_acc\n1,1,0.5\n")
    with pytest.raises(RunError, match="bad.csv: record 0 lacks train_loss"):
        read_history(bad)
    bad.write_text("step,epoch,train_loss,train_acc,test_acc,lr,epoch_seconds\n1,one,1,1,1,1,1\n")
    with pytest.raises(RunError, match="bad.csv is not readable CSV"):
        read_history(bad)


def test_missing_run_and_bad_records_name_the_file(tmp_path, capsys):
    assert main([f"x={tmp_path / 'nowhere'}", "-o", str(tmp_path / "c.png")]) == 1
    assert "nowhere does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"step": 1, "epoch": 1}]))
    assert main([f"x={bad}", "-o", str(tmp_path / "c.png")]) == 1
    assert "bad.json: record 0 lacks train_loss" in capsys.readouterr().err
    assert main([str(bad), "-o", str(tmp_path / "c.png")]) == 1
    assert "expected LABEL=RUN" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()


def test_seeds_under_one_label_give_mean_and_spread(tmp_path, capsys):
    """A label repeated over runs is one recipe's seeds: the table gives the mean of the last epoch,
    max - min, and the mean over runs of each run's last three epochs."""
    write_metrics(_history([0.5, 0.6, 0.7, 0.80]), tmp_path / "s0")
    write_metrics(_history([0.5, 0.6, 0.8, 0.90]), tmp_path / "s1")
    write_metrics(_history([0.4, 0.5, 0.6, 0.75]), tmp_path / "bn")
    out = tmp_path / "cmp.png"
    assert main([f"BN-free={tmp_path / 's0'}", f"BN={tmp_path / 'bn'}", f"BN-free={tmp_path / 's1'}",
                 "-o", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "| BN-free | 2 | 4 | 85.00% | 10.00 points (80.00% to 90.00%) | 73.33% |"
    assert lines[3] == "| BN | 1 | 4 | 75.00% |  | 61.67% |"
    assert lines[4] == str(out) and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_seeds_of_unequal_length_are_refused_before_plotting(tmp_path, capsys):
    write_metrics(_history([0.5, 0.6, 0.7, 0.8]), tmp_path / "s0")
    write_metrics(_history([0.5, 0.6, 0.7]), tmp_path / "s1")
    out = tmp_path / "cmp.png"
    assert main([f"x={tmp_path / 's0'}", f"x={tmp_path / 's1'}", "-o", str(out)]) == 1
    assert "the runs labelled 'x' have 4, 3 epochs" in capsys.readouterr().err
    assert not out.exists()
