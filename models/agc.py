"""Adaptive gradient clipping (Brock et al. 2021, NFNets), as used by "BNN - BN = ?".

Without batch normalization nothing bounds the gradient relative to the
weight; AGC clips each unit's gradient to a fixed fraction of that unit's
weight norm. A unit is one output channel (a slice along dim 0); a 0-D or 1-D
tensor is a single unit. The final classifier is conventionally left unclipped.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
import torch.nn as nn

DEFAULT_CLIPPING = 0.02
WEIGHT_EPS = 1e-3  # keeps zero-initialised weights (biases) trainable
GRAD_EPS = 1e-6


def unitwise_norm(x: torch.Tensor) -> torch.Tensor:
    """L2 norm per unit, shaped to broadcast against x."""
    if x.dim() <= 1:
        return x.norm()
    # vector_norm: Tensor.norm with a 3-tuple dim is read as a matrix norm and fails on conv weights.
    return torch.linalg.vector_norm(x, dim=tuple(range(1, x.dim())), keepdim=True)


@torch.no_grad()
def clip_gradients_(
    parameters: Iterable[torch.Tensor],
    clipping: float = DEFAULT_CLIPPING,
    eps: float = WEIGHT_EPS,
) -> None:
    """Clip each parameter's gradient in place, unit by unit.

    max_norm = clipping * max(||W_i||, eps); a unit with ||G_i|| >= max_norm is
    rescaled to G_i * max_norm / max(||G_i||, 1e-6).
    """
    for p in parameters:
        if p.grad is None:
            continue
        max_norm = clipping * unitwise_norm(p.detach()).clamp_min(eps)
        grad_norm = unitwise_norm(p.grad)
        clipped = p.grad * (max_norm / grad_norm.clamp_min(GRAD_EPS))
        p.grad.copy_(torch.where(grad_norm >= max_norm, clipped, p.grad))


def _excluded_ids(exclude: Iterable[nn.Module | torch.Tensor]) -> set[int]:
    ids: set[int] = set()
    for item in exclude:
        params = item.parameters() if isinstance(item, nn.Module) else [item]
        ids.update(id(p) for p in params)
    return ids


class AGC:
    """Wraps an optimizer: step() clips the gradients, then steps the optimizer.

    Everything in the optimizer's param groups is clipped except `exclude`
    (modules or parameters). Schedulers attach to `.optimizer`, the wrapped
    torch optimizer. clipping == 0 turns clipping off.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        exclude: Iterable[nn.Module | torch.Tensor] = (),
        clipping: float = DEFAULT_CLIPPING,
        eps: float = WEIGHT_EPS,
    ) -> None:
        if clipping < 0:
            raise ValueError(f"AGC clipping must be >= 0, got {clipping}")
        self.optimizer = optimizer
        self.clipping = clipping
        self.eps = eps
        self._excluded = _excluded_ids(exclude)

    def clipped_parameters(self) -> list[torch.Tensor]:
        return [p for g in self.optimizer.param_groups for p in g["params"] if id(p) not in self._excluded]

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        # A closure would recompute gradients after the clip; AGC runs between
        # backward() and step(), so it cannot be honoured.
        if closure is not None:
            raise ValueError("AGC does not support closures; call backward() before step()")
        if self.clipping > 0:
            clip_gradients_(self.clipped_parameters(), self.clipping, self.eps)
        return self.optimizer.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state_dict)
