"""ReActNet's real-valued downsampling shortcut in small: the 2x2 average of the real stream, its
channels repeated, added to a binary conv of the max-pooled signs. The window sum emits a pooled row
in a burst during every second input row while the branch beside it is steady, so the link behind
the window sum holds a row; with the two-deep default the RTL ran 8% slower than predicted."""
import numpy as np
import torch
import torch.nn as nn
from golden_checks import assert_golden_equals_brevitas, assert_rtl_equals_golden_at_predicted_rate, brevitas_scores
from test_compile_zoo import _randomise

from flows.backends.rtlgen import generate_rtl
from flows.build.fold import auto_fold
from flows.compile import lower
from flows.frontend.lower import to_hw_layout
from models.datasets import to_model_input
from models.layers import RESIDUAL_ALPHA, BinaryConv2d, binary_act, input_quant
from models.zoo.blocks import classifier

SHAPE = (1, 32, 32)


class PooledShortcut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(input_quant(), BinaryConv2d(1, 8, 3, padding=1, pad_value=0.0, weight_bits=4))
        self.sign, self.pool, self.avg = binary_act(), nn.MaxPool2d(2), nn.AvgPool2d(2)
        self.conv = BinaryConv2d(8, 16, 3, padding=1)
        self.head = nn.Sequential(binary_act(), nn.Flatten(), classifier(16 * 16 * 16, 10))

    def forward(self, x):
        h = self.stem(x)
        skip = self.avg(h)
        return self.head(torch.cat([skip, skip], 1) + RESIDUAL_ALPHA * self.conv(self.pool(self.sign(h))))


def test_rtl_equals_golden_at_predicted_rate(tmp_path):
    torch.manual_seed(0)
    model = PooledShortcut().eval()
    _randomise(model, 8)
    hw = lower(model, SHAPE)[2]
    assert {"WindowSum", "StreamConcat", "ResidualAdd"} <= {n.op_type for n in hw.graph.node}
    images = np.random.default_rng(9).integers(0, 256, size=(32, *SHAPE))
    assert_golden_equals_brevitas(hw, images, brevitas_scores(model, to_model_input(images)))
    auto_fold(hw, 4_096)
    generate_rtl(hw, tmp_path)
    assert_rtl_equals_golden_at_predicted_rate(hw, tmp_path, to_hw_layout(images[:4]))
