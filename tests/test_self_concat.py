"""A network that concatenates a tensor with itself (torch.cat([x, x])), as ReActNet's
downsampling shortcut duplicates its channels: one node reads one tensor twice.

qonnx's tensor renaming renamed only the first of the two uses, which left the second with
no producer; and the RTL's fork must hold a whole pixel for the copy the concatenation
reads second. Three copies lower to two concatenations, (x, x) then x, since the RTL joins two
streams: the second's x must hold a pixel while the first makes its own."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from golden_checks import assert_golden_equals_brevitas, assert_rtl_equals_golden_at_predicted_rate, brevitas_scores
from test_compile_zoo import _randomise

from flows.backends.rtlgen import generate_rtl
from flows.build.fold import auto_fold
from flows.compile import lower
from models.datasets import to_model_input
from models.layers import BinaryConv2d, binary_act, input_quant
from models.zoo.blocks import classifier

SHAPE = (1, 8, 8)


class SelfConcat(nn.Module):
    def __init__(self, copies: int) -> None:
        super().__init__()
        self.copies = copies
        self.head = nn.Sequential(input_quant(), BinaryConv2d(1, 8, 3, padding=1, pad_value=0.0, weight_bits=4),
                                  binary_act())
        self.tail = nn.Sequential(BinaryConv2d(8 * copies, 8, 3, padding=1), binary_act(), nn.Flatten(),
                                  classifier(8 * 8 * 8, 10))

    def forward(self, x):
        s = self.head(x)
        return self.tail(torch.cat([s] * self.copies, 1))


@pytest.fixture(scope="module", params=[2, 3])
def network(request):
    torch.manual_seed(0)
    model = SelfConcat(request.param).eval()
    _randomise(model, 5)
    return model, lower(model, SHAPE)[2]


def test_golden_equals_brevitas(network):
    model, hw = network
    assert sum(n.op_type == "StreamConcat" and n.input[0] == n.input[1] for n in hw.graph.node) == 1
    assert sum(n.op_type == "StreamConcat" for n in hw.graph.node) == model.copies - 1
    images = np.random.default_rng(6).integers(0, 256, size=(64, *SHAPE))
    assert_golden_equals_brevitas(hw, images, brevitas_scores(model, to_model_input(images)))


def test_rtl_equals_golden_at_predicted_rate(network, tmp_path):
    _, hw = network
    auto_fold(hw, 2_000)
    generate_rtl(hw, tmp_path)
    images = np.random.default_rng(7).integers(0, 256, size=(4, *hw.get_tensor_shape("global_in")[1:]))
    assert_rtl_equals_golden_at_predicted_rate(hw, tmp_path, images)
