import pytest
import torch
import torch.nn as nn

from models.agc import AGC, clip_gradients_, unitwise_norm


def _param(weight: list, grad: list) -> nn.Parameter:
    p = nn.Parameter(torch.tensor(weight, dtype=torch.float64))
    p.grad = torch.tensor(grad, dtype=torch.float64)
    return p


def test_unitwise_norm_per_row_and_whole_vector():
    w = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    assert torch.equal(unitwise_norm(w), torch.tensor([[5.0], [1.0]]))
    assert torch.equal(unitwise_norm(torch.tensor([3.0, 4.0])), torch.tensor(5.0))
    assert torch.equal(unitwise_norm(torch.tensor(-2.0)), torch.tensor(2.0))


def test_clips_only_units_at_or_above_the_limit():
    # lambda 0.5; row norms of W: 5, 2, 1, 0 (-> eps 1e-3).
    p = _param(
        [[3.0, 4.0], [0.0, 2.0], [1.0, 0.0], [0.0, 0.0]],
        [[6.0, 8.0], [0.0, 1.0], [0.0, 0.25], [0.0, 1.0]],
    )
    clip_gradients_([p], clipping=0.5)
    expected = torch.tensor(
        [
            [1.5, 2.0],  # ||G|| 10 >= 2.5: scaled to norm 2.5
            [0.0, 1.0],  # ||G|| 1 == 0.5 * 2: the boundary clips, to the same value
            [0.0, 0.25],  # ||G|| 0.25 < 0.5: untouched
            [0.0, 0.0005],  # zero weight: limit 0.5 * 1e-3
        ],
        dtype=torch.float64,
    )
    assert torch.allclose(p.grad, expected, rtol=0, atol=1e-15)


def test_boundary_uses_greater_or_equal():
    # At ||G|| == max_norm the rescale factor is max_norm / max(||G||, 1e-6),
    # which differs from 1 only when ||G|| < 1e-6; powers of two make the
    # equality exact. ||W|| = 2^-9, lambda = 2^-11: max_norm = 2^-20 < 1e-6.
    limit = 2.0**-20
    at = _param([[0.0, 2.0**-9]], [[0.0, limit]])
    clip_gradients_([at], clipping=2.0**-11)
    assert torch.equal(at.grad, torch.tensor([[0.0, limit * limit / 1e-6]], dtype=torch.float64))
    below = _param([[0.0, 2.0**-9]], [[0.0, limit / 2]])
    clip_gradients_([below], clipping=2.0**-11)
    assert torch.equal(below.grad, torch.tensor([[0.0, limit / 2]], dtype=torch.float64))
    # Well above the limit a unit is scaled to exactly the limit.
    above = _param([[0.0, 4.0]], [[0.0, 4.0]])
    clip_gradients_([above], clipping=0.5)
    assert torch.equal(above.grad, torch.tensor([[0.0, 2.0]], dtype=torch.float64))


def test_vector_is_one_unit():
    p = _param([3.0, 4.0], [0.3, 0.4])  # ||W|| 5, limit 0.1, ||G|| 0.5
    clip_gradients_([p], clipping=0.02)
    assert torch.allclose(p.grad, torch.tensor([0.06, 0.08], dtype=torch.float64), rtol=0, atol=1e-15)


def test_zero_gradient_stays_zero():
    p = _param([[0.0, 0.0]], [[0.0, 0.0]])
    clip_gradients_([p], clipping=0.02)
    assert torch.equal(p.grad, torch.zeros(1, 2, dtype=torch.float64))


def test_wrapper_excludes_modules_and_steps_optimizer():
    body, head = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        body.weight.copy_(torch.eye(2))
        head.weight.copy_(torch.eye(2))
    opt = torch.optim.SGD(list(body.parameters()) + list(head.parameters()), lr=1.0)
    agc = AGC(opt, exclude=[head], clipping=0.1)
    body.weight.grad = torch.full((2, 2), 10.0)
    head.weight.grad = torch.full((2, 2), 10.0)
    agc.step()
    # body rows: ||W|| 1, limit 0.1, grad clipped to 0.1/sqrt(2) per entry.
    step = 0.1 / 2**0.5
    assert torch.allclose(body.weight, torch.eye(2) - step, atol=1e-6)
    assert torch.allclose(head.weight, torch.eye(2) - 10.0)
    assert agc.clipped_parameters() == [body.weight]


def test_zero_lambda_disables_and_negative_rejected():
    layer = nn.Linear(2, 1, bias=False)
    opt = torch.optim.SGD(layer.parameters(), lr=0.0)
    layer.weight.grad = torch.full((1, 2), 100.0)
    AGC(opt, clipping=0.0).step()
    assert torch.equal(layer.weight.grad, torch.full((1, 2), 100.0))
    with pytest.raises(ValueError):
        AGC(opt, clipping=-1.0)
