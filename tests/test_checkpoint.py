import os
import pickle

import pytest
import torch

from models.checkpoint import FORMAT, CheckpointError, load_model, read_checkpoint, save_checkpoint
from models.layers import set_weight_binarization
from models.registry import create_model

NAME = "tfc_w1a1_nobn"


def _trained_looking_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = create_model(NAME)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))  # gains and biases away from their init
    return model.eval()


@pytest.fixture
def saved(tmp_path):
    model = _trained_looking_model()
    path = save_checkpoint(tmp_path / "m.pt", NAME, model, {"dataset": "fashion_mnist", "test_accuracy": 0.5})
    return model, path


def test_round_trip_gives_identical_outputs(saved):
    model, path = saved
    loaded, meta = load_model(path, NAME)
    assert meta == {"dataset": "fashion_mnist", "test_accuracy": 0.5}
    assert not loaded.training
    x = torch.randint(0, 256, (64, 1, 28, 28)).float() / 256
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
        # Also with step-1 settings (real weights), where biases are not quantized.
        set_weight_binarization(model, False)
        set_weight_binarization(loaded, False)
        assert torch.equal(loaded(x), model(x))


def test_format_fields_and_resume_entries(tmp_path):
    model = create_model(NAME)
    opt = torch.optim.Adam(model.parameters())
    path = save_checkpoint(tmp_path / "sub" / "r.pt", NAME, model, {"step": 1}, resume={"optimizer": opt.state_dict(), "epoch": 3})
    payload = read_checkpoint(path)
    assert payload["format"] == FORMAT and payload["version"] == 1 and payload["model"] == NAME
    assert payload["epoch"] == 3 and "optimizer" in payload
    assert [p.name for p in path.parent.iterdir()] == ["r.pt"]  # no temporary file left behind
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path / "x.pt", NAME, model, {}, resume={"junk": 1})


def test_save_replaces_atomically(saved, tmp_path):
    _, path = saved
    other = _trained_looking_model(seed=1)
    save_checkpoint(path, NAME, other, {"test_accuracy": 0.9})
    assert read_checkpoint(path)["meta"]["test_accuracy"] == 0.9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist") as err:
        load_model(tmp_path / "nope.pt")
    assert "nope.pt" in str(err.value)


def test_truncated_file(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as err:
        load_model(cut)
    assert str(cut) in str(err.value)


def test_random_bytes(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_model(junk)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i, writer in enumerate((torch.save, lambda obj, f: pickle.dump(obj, open(f, "wb")))):
        evil = tmp_path / f"evil{i}.pt"
        writer({"format": FORMAT, "version": 1, "model": NAME, "state_dict": {}, "meta": _Exploit()}, evil)
        with pytest.raises(CheckpointError, match="evil"):
            load_model(evil)
    assert not (tmp_path / "pwned").exists()


def test_foreign_torch_file(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save(create_model(NAME).state_dict(), path)
    with pytest.raises(CheckpointError, match="not a bnnflow checkpoint"):
        load_model(path)


def test_wrong_version(tmp_path):
    path = tmp_path / "v9.pt"
    torch.save({"format": FORMAT, "version": 9, "model": NAME, "state_dict": {}, "meta": {}}, path)
    with pytest.raises(CheckpointError, match="version 9"):
        load_model(path)


def test_model_name_mismatch(saved):
    _, path = saved
    with pytest.raises(CheckpointError, match="'tfc_w1a1_nobn', not 'tfc_w1a1'"):
        load_model(path, "tfc_w1a1")


def test_state_dict_that_does_not_fit(tmp_path):
    # A BN-twin state_dict labelled as the BN-free model.
    path = tmp_path / "mislabelled.pt"
    torch.save(
        {"format": FORMAT, "version": 1, "model": NAME, "state_dict": create_model("tfc_w1a1").state_dict(), "meta": {}},
        path,
    )
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    message = str(err.value)
    assert "mislabelled.pt" in message and "missing keys" in message and "unexpected keys" in message
    assert "2.bias" in message and "3.running_mean" in message


def test_shape_mismatch_is_listed(saved, tmp_path):
    _, path = saved
    payload = read_checkpoint(path)
    payload["state_dict"]["4.weight"] = torch.zeros(64, 65)
    bad = tmp_path / "shape.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match=r"4\.weight: checkpoint \(64, 65\) vs model \(64, 64\)"):
        load_model(bad)


def test_other_weight_widths_are_refused_naming_the_layer(tmp_path):
    """Weight widths do not change tensor shapes: a checkpoint of the all-binary net must not load
    into the 4-bit-stem one, where it would be another network."""
    binary = create_model("binarydensenet_nobn", stem_bits=1)
    path = save_checkpoint(tmp_path / "binary.pt", "binarydensenet_nobn", binary, {})
    assert read_checkpoint(path)["weight_bits"]["1.0"] == 1
    with pytest.raises(CheckpointError, match=r"binary\.pt was trained with other weight widths: "
                                              r"layer 1\.0 has 1-bit weights in the checkpoint, 4-bit in the model$"):
        load_model(path)
    # A checkpoint written before widths were recorded loads as before.
    payload = read_checkpoint(path)
    del payload["weight_bits"]
    torch.save(payload, tmp_path / "old.pt")
    load_model(tmp_path / "old.pt")
    # Step 1 of a two-step run trains real weights: its snapshot may start step 2 at any widths.
    payload["weight_bits"] = {"1.0": 1}
    payload["meta"] = {"two_step": True, "step": 1}
    torch.save(payload, tmp_path / "step1.pt")
    load_model(tmp_path / "step1.pt")
    payload["meta"] = {"two_step": True, "step": 2}
    torch.save(payload, tmp_path / "step2.pt")
    with pytest.raises(CheckpointError, match="other weight widths"):
        load_model(tmp_path / "step2.pt")
    payload["weight_bits"] = {"1.0": "one"}
    torch.save(payload, tmp_path / "malformed.pt")
    with pytest.raises(CheckpointError, match="malformed.pt has a malformed weight_bits entry"):
        load_model(tmp_path / "malformed.pt")


def test_unknown_model_in_checkpoint(saved, tmp_path):
    _, path = saved
    payload = read_checkpoint(path)
    payload["model"] = "no_such_model"
    bad = tmp_path / "unknown.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match="unknown model 'no_such_model'"):
        load_model(bad)


class _RunsTrue:
    def __reduce__(self):
        return (os.system, ("true",))


class _NotAPlainValue:
    pass


@pytest.mark.parametrize("payload, named", [
    (_RunsTrue(), "system"),  # os.system: torch 2.13 says "unsupported GLOBAL posix.system ... is blocked"
    (_NotAPlainValue(), "_NotAPlainValue"),  # any class: "Unsupported global: GLOBAL ...._NotAPlainValue"
])
def test_code_running_pickle_is_refused_as_such_not_as_corrupt(tmp_path, payload, named):
    evil = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "version": 1, "model": NAME, "state_dict": {}, "meta": {"x": payload}}, evil)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(evil)
    message = str(err.value)
    assert str(evil) in message and "not loaded" in message and "would run code" in message
    assert named in message
    assert "corrupt" not in message and "\n" not in message


@pytest.mark.parametrize("message, expected", [
    ("Trying to load unsupported GLOBAL posix.system whose module posix is blocked.", "posix.system"),
    ("WeightsUnpickler error: Unsupported global: GLOBAL __main__.F was not an allowed global", "__main__.F"),
    ("unsupported global", ""),
    ("Unsupported operand 149", None),
    ("invalid load key, 'x'.", None),
])
def test_refused_global_is_found_whatever_the_wording(message, expected):
    from models.checkpoint import _code_global
    assert _code_global(message) == expected


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused_on_load_naming_the_entry(saved, tmp_path, bad):
    _, path = saved
    payload = read_checkpoint(path)
    names = list(payload["state_dict"])
    first = next(k for k in names if k.endswith("weight"))
    payload["state_dict"][first].view(-1)[3] = bad
    later = names[-1]
    payload["state_dict"][later].view(-1)[0] = float("nan")  # only the first bad entry is named
    broken = tmp_path / "diverged.pt"
    torch.save(payload, broken)
    with pytest.raises(CheckpointError) as err:
        load_model(broken, NAME)
    message = str(err.value)
    assert "diverged.pt" in message and f"non-finite values in {first} " in message and later not in message
    assert ("1 NaN" if bad != bad else "1 inf") in message
