"""The notebook widget."""

from .explorer import OUTPUT, Explorer

__all__ = ["OUTPUT", "Explorer"]
