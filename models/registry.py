"""Model registry: one decorator registers a factory by name.

`make train MODEL=x` and `make build MODEL=x` look models up here, so adding a
model to the zoo is one decorated function and nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch.nn as nn


DEFAULT_LR = 2e-3


@dataclass(frozen=True)
class ModelInfo:
    name: str
    factory: Callable[..., nn.Module]
    dataset: str
    input_shape: tuple[int, ...]
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)  # factory arguments of this entry
    lr: float = DEFAULT_LR  # peak Adam learning rate `make train` uses
    hardware: bool = True  # False: a real-valued teacher, which trains but has no hardware build


_REGISTRY: dict[str, ModelInfo] = {}


class UnknownModelError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register_model(dataset: str, input_shape: tuple[int, ...], suffix: str = "", lr: float = DEFAULT_LR,
                   hardware: bool = True, **defaults: Any) -> Callable:
    """Register a model factory under its function name, plus `suffix`.

    dataset and input_shape (C, H, W) are the defaults the training and build
    flows use when the user names only the model. Stacked decorators register
    one factory for several datasets: `suffix="_cifar10", in_channels=3,
    image_size=32` adds an entry whose factory arguments are those defaults.
    lr is the peak learning rate training uses unless told otherwise. hardware=False marks a
    real-valued network (a distillation teacher), which the hardware flow refuses.
    """

    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = factory.__name__ + suffix
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        doc = (factory.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ModelInfo(name, factory, dataset, tuple(input_shape), doc[0] if doc else "",
                                    dict(defaults), lr, hardware)
        return factory

    return wrap


def list_models() -> list[str]:
    _load_zoo()
    return sorted(_REGISTRY)


def model_info(name: str) -> ModelInfo:
    _load_zoo()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}"
        ) from None


def create_model(name: str, **kwargs: Any) -> nn.Module:
    info = model_info(name)
    return info.factory(**{**info.defaults, **kwargs})


def _load_zoo() -> None:
    # Importing the zoo runs its decorators; deferred so that importing the
    # registry alone stays cheap and free of cycles.
    from . import zoo  # noqa: F401
