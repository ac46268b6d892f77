"""backprop-lens: see what backpropagation-based visualizations of image classifiers really show."""

from .engine import METHODS, NonReluActivationWarning, attribute

__all__ = ["METHODS", "NonReluActivationWarning", "attribute"]
__version__ = "0.1.0"
