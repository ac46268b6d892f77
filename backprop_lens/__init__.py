"""backprop-lens: see what backpropagation-based visualizations of image classifiers really show."""

from typing import Any

from . import data, models
from .engine import METHODS, NonReluActivationWarning, attribute
from .engine import method_objects as methods

__all__ = ["METHODS", "Explorer", "NonReluActivationWarning", "attribute", "data",
           "export_html", "methods", "models"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The widget pulls in ipywidgets, anywidget and bqplot: loaded on first use, so that the
    # engine imports fast in scripts and workers that never show a widget.
    if name == "Explorer":
        from .widget import Explorer

        return Explorer
    if name == "export_html":
        from .widget.export import export_html

        return export_html
    raise AttributeError(f"module 'backprop_lens' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext backprop_lens``: registers the ``%lens`` line magic (see backprop_lens.magic)."""
    from .magic import register

    register(ipython)
