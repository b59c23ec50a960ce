import torch
from torch.utils.data import TensorDataset

from models.layer_sensitivity import format_table, layer_sensitivity, main
from models.layers import binary_layers, set_weight_binarization
from models.registry import create_model
from models.train import evaluate


def _data(n: int = 64) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randint(0, 256, (n, 1, 28, 28), generator=g) / 256, torch.randint(0, 10, (n,), generator=g))


def test_one_row_per_binary_layer_between_all_real_and_all_binary():
    torch.manual_seed(0)
    model = create_model("tfc_w1a1_nobn").eval()
    data = _data()
    rows = layer_sensitivity(model, data, progress=False)
    layers = binary_layers(model)
    assert [r.layer for r in rows][1:-1] == [n for n, m in model.named_modules() if m in layers]
    set_weight_binarization(model, False)
    assert rows[0].accuracy == evaluate(model, data)
    set_weight_binarization(model, True)
    assert rows[-1].accuracy == evaluate(model, data)
    assert rows[-1].weights == sum(r.weights for r in rows[1:-1]) == sum(m.weight.numel() for m in layers)
    assert len(format_table(rows).splitlines()) == len(rows) + 1


def test_cli_names_a_corrupt_checkpoint(tmp_path, capsys):
    bad = tmp_path / "step1.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main([str(bad)]) == 1
    assert "step1.pt" in capsys.readouterr().err
