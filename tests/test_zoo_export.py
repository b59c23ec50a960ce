"""Every zoo model exports to QONNX, runs bit-exactly under qonnx, and keeps the hardware contract in the graph."""
import numpy as np
import pytest
import torch
from qonnx.core.datatype import DataType
from qonnx.core.onnx_exec import execute_onnx

from flows.frontend.export import export_qonnx
from models.registry import create_model, model_info
from models.train import logits_of
from zoo_names import ZOO

BIPOLAR_PADDED = [
    "binarydensenet_nobn", "binarydensenet_bn", "binarydensenet_wide_nobn", "binarydensenet_wide_bn",
    "reactnet_nobn", "reactnet_bn", "resnete_nobn",
]
IMAGES = 2


def _prepared(name: str, **kwargs) -> torch.nn.Module:
    """A model whose BN statistics and parameters are away from their identity initialisation."""
    torch.manual_seed(0)
    model = create_model(name, **kwargs)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() <= 1 or p.shape[0] == 1:  # gains, biases, BN affines, RSign/RPReLU shifts
                p.add_(0.1 * torch.randn_like(p))
    model.train()
    with torch.no_grad():
        model(_grid_inputs(model_info(name).input_shape, 32, seed=1))
    return model.eval()


def _grid_inputs(shape, n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=generator) / 256


def _run(qmodel, x: torch.Tensor) -> np.ndarray:
    name_in, name_out = qmodel.graph.input[0].name, qmodel.graph.output[0].name
    return np.concatenate([execute_onnx(qmodel, {name_in: x[i : i + 1].numpy()})[name_out] for i in range(len(x))])


def _producer_of_input(qmodel) -> str:
    """The tensor holding the quantized 8-bit input (output of the Quant fed by the graph input)."""
    graph_in = qmodel.graph.input[0].name
    quants = [n for n in qmodel.graph.node if n.op_type == "Quant" and n.input[0] == graph_in]
    if not quants:  # TFC flattens first
        flat = [n for n in qmodel.graph.node if n.input and n.input[0] == graph_in][0]
        quants = [n for n in qmodel.graph.node if n.op_type == "Quant" and n.input[0] == flat.output[0]]
    return quants[0].output[0]


def _pad_value(qmodel, node) -> float:
    return float(qmodel.get_initializer(node.input[2]))


def _pooled_bipolar(qmodel, tensor: str) -> bool:
    """tensor is Flatten(GlobalAveragePool(+-1 tensor)): the mean of signs feeding the classifier."""
    flatten = qmodel.find_producer(tensor)
    pool = flatten is not None and flatten.op_type == "Flatten" and qmodel.find_producer(flatten.input[0])
    return bool(pool) and pool.op_type == "GlobalAveragePool"


def _check_contract(qmodel, pad_value: float) -> None:
    bipolar = lambda t: qmodel.get_tensor_datatype(t) == DataType["BIPOLAR"]  # noqa: E731
    pixels = _producer_of_input(qmodel)
    nodes = qmodel.graph.node
    weighted = [n for n in nodes if n.op_type in ("Conv", "MatMul", "Gemm")]
    for n in weighted[:-1]:
        assert n.input[0] == pixels or bipolar(n.input[0]), f"{n.name} reads a tensor that is neither +-1 nor the input"
    assert bipolar(weighted[-1].input[0]) or _pooled_bipolar(qmodel, weighted[-1].input[0]), "classifier input"
    assert sum(n.input[0] == pixels for n in weighted) == 1, "exactly one layer reads the 8-bit input"
    for n in weighted:
        # Quantized constants: signs (BipolarQuant) or integers (Quant), never float weights.
        assert qmodel.find_producer(n.input[1]).op_type in ("BipolarQuant", "Quant"), f"{n.name} weights"
    for n in nodes:
        if n.op_type == "Pad":
            assert bipolar(n.input[0]) and _pad_value(qmodel, n) == pad_value
        if n.op_type == "Conv" and n.input[0] != pixels:
            pads = [a for a in n.attribute if a.name == "pads"]
            assert not pads or not any(pads[0].ints), f"{n.name} zero-pads a +-1 tensor"
        if n.op_type in ("MaxPool", "GlobalAveragePool"):
            assert all(bipolar(t) for t in n.input), f"{n.op_type} {n.name} on a tensor that is not +-1"
        if n.op_type == "Concat":
            # +-1 tensors (a dense block), or one averaged stream repeated (a residual transition's shortcut).
            repeat = len(set(n.input)) == 1 and qmodel.find_producer(n.input[0]).op_type == "AveragePool"
            assert repeat or all(bipolar(t) for t in n.input), f"Concat {n.name} on a tensor that is not +-1"
    assert nodes[-1].op_type == "MatMul", "the classifier must be a bias-free MatMul"


@pytest.mark.parametrize("name", ZOO)
def test_export_matches_pytorch_bit_exactly(name):
    model = _prepared(name)
    shape = model_info(name).input_shape
    qmodel = export_qonnx(model, shape)
    x = _grid_inputs(shape, IMAGES)
    with torch.no_grad():
        expected = logits_of(model(x)).numpy()
    assert np.array_equal(_run(qmodel, x), expected)
    _check_contract(qmodel, pad_value=-1.0)
    pads = [n for n in qmodel.graph.node if n.op_type == "Pad"]
    assert bool(pads) == (name in BIPOLAR_PADDED)


def test_plus_one_padding_reaches_the_graph():
    name = "binarydensenet_nobn"
    model = _prepared(name, pad_value=1.0)
    qmodel = export_qonnx(model, model_info(name).input_shape)
    pads = [n for n in qmodel.graph.node if n.op_type == "Pad"]
    assert pads and all(_pad_value(qmodel, n) == 1.0 for n in pads)
    x = _grid_inputs(model_info(name).input_shape, 1)
    with torch.no_grad():
        assert np.array_equal(_run(qmodel, x), logits_of(model(x)).numpy())
