"""The attribution engine: backward passes under per-method ReLU rules."""

from . import method_objects
from .attribute import NonReluActivationWarning, attribute
from .method_objects import (
    GradCAM,
    GuidedGradCAM,
    InputXGradient,
    IntegratedGradients,
    MethodObject,
    SmoothGrad,
)
from .methods import Method, get_method, method_names, register
from .retained import NotCovered, RetainedForward

METHODS: tuple[str, ...] = method_names()

#: The methods that are one backward pass under a rectifier rule.
RULE_METHODS: tuple[str, ...] = ("saliency", "deconvnet", "guided_backprop")

__all__ = ["METHODS", "RULE_METHODS", "GradCAM", "GuidedGradCAM", "InputXGradient",
           "IntegratedGradients", "Method", "MethodObject", "NonReluActivationWarning",
           "NotCovered", "RetainedForward", "SmoothGrad", "attribute", "get_method",
           "method_objects", "register"]
