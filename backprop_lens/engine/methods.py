"""The registry of attribution methods, by name.

A method is, for now, a ReLU backward rule (``None``: the plain gradient). The registry is open so
that later methods (input × gradient, SmoothGrad, …) are added by name in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rules import DECONVNET_RULE, GUIDED_RULE, ReluRule


@dataclass(frozen=True)
class Method:
    name: str
    relu_rule: ReluRule | None
    description: str


_REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in _REGISTRY:
        raise ValueError(f"a method named {method.name!r} is already registered")
    _REGISTRY[method.name] = method
    return method


def get_method(name: object) -> Method:
    """The registered method called ``name``; a clear error for anything else."""
    if not isinstance(name, str):
        raise TypeError(f"method must be a str, one of {method_names()}; got {type(name).__name__}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"method must be one of {method_names()}; got {name!r}") from None


def method_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


# m is the forward mask of a rectifier: 1[a>0] for a ReLU, 1[0<a<6] for ReLU6.
register(Method("saliency", None, "plain gradient, signed: g·m at every rectifier"))
register(Method("deconvnet", DECONVNET_RULE, "DeconvNet: relu(g) at every rectifier"))
register(Method("guided_backprop", GUIDED_RULE,
                "guided backprop: relu(g)·m at every rectifier"))
