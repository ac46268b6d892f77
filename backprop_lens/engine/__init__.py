"""The attribution engine: backward passes under per-method ReLU rules."""

from .attribute import NonReluActivationWarning, attribute
from .methods import Method, get_method, method_names, register

METHODS: tuple[str, ...] = method_names()

__all__ = ["METHODS", "Method", "NonReluActivationWarning", "attribute", "get_method", "register"]
