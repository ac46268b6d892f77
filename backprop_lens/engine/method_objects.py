"""The configurable method objects, in one namespace (``backprop_lens.methods``), and their
defaults registered by name.

``attribute(model, x, "smoothgrad")`` uses ``SmoothGrad()``; ``attribute(model, x,
SmoothGrad(base="guided_backprop", noise_level=0.15, samples=25))`` the settings given.
"""

from __future__ import annotations

from .gradcam import GradCAM, GuidedGradCAM
from .input_x_gradient import InputXGradient
from .integrated_gradients import IntegratedGradients
from .method_base import DISPLAYS, MethodObject, Request
from .methods import Method, get_method, method_names, register
from .smoothgrad import SmoothGrad

__all__ = ["DISPLAYS", "GradCAM", "GuidedGradCAM", "InputXGradient", "IntegratedGradients",
           "Method", "MethodObject", "Request", "SmoothGrad", "get_method", "method_names",
           "register"]

for _default in (InputXGradient(), SmoothGrad(), IntegratedGradients(), GradCAM(),
                 GuidedGradCAM()):
    register(_default)
