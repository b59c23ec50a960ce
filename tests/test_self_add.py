"""A residual add of a tensor to itself (h + h): one node reads one tensor twice, both copies
in lockstep. Unlike a concatenation, which takes a whole pixel of its first input before its
second, it needs no pixel of depth on either copy: the fork's link FIFOs alone must not stall it."""
import re

import numpy as np
import pytest
import torch
import torch.nn as nn
from golden_checks import assert_golden_equals_brevitas, assert_rtl_equals_golden_at_predicted_rate, brevitas_scores
from test_compile_zoo import _randomise

from flows.backends.design import LINK_FIFO_DEPTH
from flows.backends.rtlgen import generate_rtl
from flows.build.fold import auto_fold
from flows.compile import lower
from models.datasets import to_model_input
from models.layers import BinaryConv2d, binary_act, input_quant
from models.zoo.blocks import classifier

SHAPE = (1, 8, 8)


class SelfAdd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        # The stem's 4-bit weights leave a multi-bit stream, so the add is a fixed-point ResidualAdd.
        self.stem = nn.Sequential(input_quant(), BinaryConv2d(1, 8, 3, padding=1, pad_value=0.0, weight_bits=4))
        self.tail = nn.Sequential(binary_act(), BinaryConv2d(8, 8, 3, padding=1), binary_act(), nn.Flatten(),
                                  classifier(8 * 8 * 8, 10))

    def forward(self, x):
        h = self.stem(x)
        return self.tail(h + h)


@pytest.fixture(scope="module")
def accelerator(tmp_path_factory):
    torch.manual_seed(0)
    model = SelfAdd().eval()
    _randomise(model, 1)
    hw = lower(model, SHAPE)[2]
    auto_fold(hw, 2000)
    rtl = tmp_path_factory.mktemp("rtl")
    generate_rtl(hw, rtl)
    return model, hw, rtl


def test_lowers_to_an_add_reading_one_tensor_twice(accelerator):
    _, hw, _ = accelerator
    add = hw.get_nodes_by_op_type("ResidualAdd")
    assert len(add) == 1 and add[0].input[0] == add[0].input[1]


def test_golden_equals_brevitas(accelerator):
    model, hw, _ = accelerator
    images = np.random.default_rng(6).integers(0, 256, size=(64, *SHAPE))
    assert_golden_equals_brevitas(hw, images, brevitas_scores(model, to_model_input(images)))


def test_rtl_equals_golden_at_predicted_rate_with_link_fifos_only(accelerator):
    _, hw, rtl = accelerator
    depths = re.findall(r"\.DEPTH\((\d+)\)\s*\)\s*ResidualAdd_0_in_fifo_\d+_i", (rtl / "bnn_top.v").read_text())
    assert depths == [str(LINK_FIFO_DEPTH)] * 2
    images = np.random.default_rng(0).integers(0, 256, size=(4, *hw.get_tensor_shape("global_in")[1:]))
    assert_rtl_equals_golden_at_predicted_rate(hw, rtl, images)
