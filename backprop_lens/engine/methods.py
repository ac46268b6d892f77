"""The registry of attribution methods, by name.

A rule method is a ReLU backward rule (``None``: the plain gradient): a :class:`Method` record.
The other methods (input × gradient, SmoothGrad, Integrated Gradients, Grad-CAM, guided
Grad-CAM) are configurable objects (see ``method_base``); their defaults are registered by name
in ``engine/__init__.py``. An object is accepted wherever a name is.
"""

from __future__ import annotations

from dataclasses import dataclass

from .method_base import ABS_GREY, SIGNED_RGB, MethodObject
from .rules import DECONVNET_RULE, GUIDED_RULE, ReluRule


@dataclass(frozen=True)
class Method:
    name: str
    relu_rule: ReluRule | None
    description: str
    display: str = SIGNED_RGB  # how the maps are meant to be shown (see method_base)


AnyMethod = Method | MethodObject

_REGISTRY: dict[str, AnyMethod] = {}


def register(method: AnyMethod) -> AnyMethod:
    if method.name in _REGISTRY:
        raise ValueError(f"a method named {method.name!r} is already registered")
    _REGISTRY[method.name] = method
    return method


def get_method(name: object) -> AnyMethod:
    """The registered method called ``name`` (a method object is returned as it is); a clear
    error for anything else."""
    if isinstance(name, Method | MethodObject):
        return name
    if not isinstance(name, str):
        raise TypeError(f"method must be a str, one of {method_names()}, or a method object "
                        f"(e.g. SmoothGrad(...)); got {type(name).__name__}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"method must be one of {method_names()}; got {name!r}") from None


def method_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


# m is the forward mask of a rectifier: 1[a>0] for a ReLU, 1[0<a<6] for ReLU6.
register(Method("saliency", None, "plain gradient, signed: g·m at every rectifier", ABS_GREY))
register(Method("deconvnet", DECONVNET_RULE, "DeconvNet: relu(g) at every rectifier"))
register(Method("guided_backprop", GUIDED_RULE,
                "guided backprop: relu(g)·m at every rectifier"))
