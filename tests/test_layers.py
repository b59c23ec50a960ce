"""Unit tests of the binary layers: scaled WS, +-1 padding, RSign, RPReLU, residual scaling."""
import math

import pytest
import torch
import torch.nn.functional as F

from models.layers import (
    BinaryConv2d,
    BinaryLinear,
    GlobalAvgPool,
    RPReLU,
    RSign,
    binary_act,
    freeze_for_export,
    residual_betas,
)


def _rows(w: torch.Tensor) -> torch.Tensor:
    return w.reshape(w.shape[0], -1)


@pytest.mark.parametrize("layer", [BinaryConv2d(5, 7, 3), BinaryLinear(40, 6)], ids=["conv", "linear"])
def test_scaled_ws_rows_have_zero_mean_and_norm_of_the_gain(layer):
    torch.manual_seed(0)
    with torch.no_grad():
        layer.weight.normal_(0.3, 2.0)
        gains = torch.linspace(-2.0, 3.0, layer.weight.shape[0])
        layer.gain.copy_(gains.reshape(layer.gain.shape))
    rows = _rows(layer.standardized_weight().detach())
    assert torch.allclose(rows.mean(dim=1), torch.zeros(len(rows)), atol=1e-6)
    assert torch.allclose(rows.norm(dim=1), gains.abs(), rtol=1e-4)


def test_scaled_ws_with_unit_gain_gives_unit_norm_rows():
    layer = BinaryConv2d(8, 4, 3)
    rows = _rows(layer.standardized_weight().detach())
    # The 1e-5 added to the std costs a relative 1e-5 / std (std ~ 0.07 here).
    assert torch.allclose(rows.norm(dim=1), torch.ones(4), rtol=1e-3)


def test_freeze_bakes_the_standardized_weight():
    layer = BinaryConv2d(3, 4, 3)
    expected = layer.standardized_weight().detach().clone()
    frozen = freeze_for_export(torch.nn.Sequential(layer))[0]
    assert frozen.gain is None and torch.equal(frozen.weight.detach(), expected)


@pytest.mark.parametrize("pad_value", [-1.0, 1.0])
def test_bipolar_padding_uses_the_pad_value(pad_value):
    torch.manual_seed(1)
    layer = BinaryConv2d(3, 4, 3, padding=1, pad_value=pad_value, bias=False)
    x = binary_act()(torch.randn(2, 3, 6, 6))
    expected = F.conv2d(F.pad(x.value, (1, 1, 1, 1), value=pad_value), layer.quant_weight().value)
    out = layer(x)
    assert out.shape == (2, 4, 6, 6)
    assert torch.allclose(out, expected, atol=1e-6)
    assert layer.padding == (0, 0)  # the convolution itself must not zero-pad on top


def test_pad_values_differ_at_the_border_only():
    torch.manual_seed(2)
    minus, plus = BinaryConv2d(3, 4, 3, padding=1, pad_value=-1.0), BinaryConv2d(3, 4, 3, padding=1, pad_value=1.0)
    plus.load_state_dict(minus.state_dict())
    x = binary_act()(torch.randn(1, 3, 6, 6))
    a, b = minus(x), plus(x)
    assert torch.equal(a[..., 1:-1, 1:-1], b[..., 1:-1, 1:-1])
    assert not torch.equal(a, b)


def test_zero_pad_value_is_the_convolution_zero_padding():
    layer = BinaryConv2d(1, 2, 3, padding=2, pad_value=0.0)
    assert layer.padding == (2, 2) and layer.bipolar_padding == 0


def test_pad_value_outside_the_hardware_set_is_rejected():
    with pytest.raises(ValueError, match="pad_value"):
        BinaryConv2d(3, 4, 3, padding=1, pad_value=0.5)


def test_rsign_thresholds_per_channel():
    sign = RSign(2)
    with torch.no_grad():
        sign.threshold.copy_(torch.tensor([0.5, -1.0]).reshape(1, 2, 1, 1))
    x = torch.tensor([0.4, 0.5, 0.6, -1.1, -1.0, 0.0]).reshape(1, 1, 1, 6).repeat(1, 2, 1, 1)
    out = sign(x).value
    assert out[0, 0, 0].tolist() == [-1, 1, 1, -1, -1, -1]
    assert out[0, 1, 0].tolist() == [1, 1, 1, -1, 1, 1]


def test_rsign_threshold_learns_through_the_straight_through_estimator():
    sign = RSign(3)
    sign(torch.randn(4, 3, 2, 2)).value.sum().backward()
    assert sign.threshold.grad is not None and sign.threshold.grad.abs().sum() > 0


def test_rprelu_matches_its_definition():
    act = RPReLU(1, slope=0.5)
    with torch.no_grad():
        act.shift_in.fill_(1.0)
        act.shift_out.fill_(-2.0)
    x = torch.tensor([-1.0, 1.0, 3.0]).reshape(1, 1, 1, 3)
    assert act(x).flatten().tolist() == [0.5 * (-2.0) - 2.0, -2.0, 2.0 - 2.0]


def test_rprelu_slope_stays_non_negative_after_a_step_that_pushes_it_negative():
    act = RPReLU(4, slope=0.1)
    optimizer = torch.optim.SGD(act.parameters(), lr=10.0)
    x = -torch.rand(8, 4, 3, 3) - 0.5  # below the shift: the output is slope * x
    (-act(x).sum()).backward()  # d/d slope = -sum(x) > 0: descent lowers the slope
    optimizer.step()
    assert (act.raw_slope < 0).all()
    assert (act.slope >= 0).all()
    ramp = torch.linspace(-3, 3, 61).reshape(1, 1, 1, -1).repeat(1, 4, 1, 1)
    out = act(ramp).detach()
    assert (out[..., 1:] >= out[..., :-1]).all()


def test_residual_betas_grow_with_alpha_squared_and_reset_after_a_transition():
    betas = residual_betas([False, False, True, False, False], alpha=0.2)
    expected_var = [1.0, 1.04, 1.08, 1.04, 1.08]
    assert betas == pytest.approx([1 / math.sqrt(v) for v in expected_var])


def test_global_avg_pool_of_bipolar_tensor_is_the_exact_mean():
    x = binary_act()(torch.randn(2, 3, 4, 4))
    out = GlobalAvgPool()(x)
    assert out.shape == (2, 3)
    assert torch.equal(out * 16, x.value.sum(dim=(2, 3)))


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_integer_weights_are_narrow_range_ints_on_a_power_of_two_scale(bits):
    """The scale is 2^ceil(log2(max|W_c|)) / 2^(bits-1): ints in [-(2^(bits-1)-1), 2^(bits-1)-1],
    each channel's largest weight above half the range, nothing clipped beyond one step."""
    torch.manual_seed(0)
    layer = BinaryConv2d(1, 6, 3, weight_bits=bits)
    with torch.no_grad():
        layer.gain.copy_(torch.linspace(0.3, 5.0, 6).reshape(layer.gain.shape))
    w = layer.standardized_weight().detach()
    q = layer.quant_weight()
    scale = q.scale.detach().reshape(-1)
    top = 2 ** (bits - 1)
    expected = 2.0 ** torch.ceil(torch.log2(_rows(w).abs().amax(dim=1))) / top
    assert torch.equal(scale, expected)
    ints = (q.value.detach() / q.scale.detach()).reshape(6, -1)
    assert torch.equal(ints, ints.round()) and ints.abs().max() <= top - 1
    assert torch.all(ints.abs().amax(dim=1) > top // 2 - 1)
    assert torch.all((_rows(w) / scale[:, None] - ints).abs() <= 1.0)
    assert q.bit_width.item() == bits


def test_integer_weights_take_2_to_8_bits():
    with pytest.raises(ValueError, match="2 to 8 bits"):
        BinaryConv2d(1, 4, 3, weight_bits=9)


def test_an_integer_classifier_keeps_one_scale():
    """One power-of-two scale for the tensor: the class order is the integer accumulators' order."""
    layer = BinaryLinear(64, 10, bias=False, per_channel_scale=False, weight_bits=3)
    q = layer.quant_weight()
    ints = q.value.detach() / q.scale.detach()
    assert q.scale.numel() == 1 and torch.equal(ints, ints.round()) and ints.abs().max() <= 3
