"""How methods are named and coloured wherever the Explorer shows them: the method buttons, the
compare row's captions and every chart use these labels and colours (the front end reads them
from the ``method_styles`` trait), so that "Guided backprop" is the same word and the same green
in a button, a caption and a bar."""

from __future__ import annotations

from collections.abc import Sequence

#: Label and colour per method of ``backprop_lens.METHODS`` (and of the methods the engine may
#: offer later: a method missing here gets its own name and a colour of ``_SPARE_COLOURS``).
METHOD_STYLES: dict[str, dict[str, str]] = {
    "saliency": {"label": "Saliency", "colour": "#e6550d"},
    "deconvnet": {"label": "DeconvNet", "colour": "#756bb1"},
    "guided_backprop": {"label": "Guided backprop", "colour": "#31a354"},
    "input_x_gradient": {"label": "Input × gradient", "colour": "#d6616b"},
    "smoothgrad": {"label": "SmoothGrad", "colour": "#8c6d31"},
    "integrated_gradients": {"label": "Integrated gradients", "colour": "#3182bd"},
    "gradcam": {"label": "Grad-CAM", "colour": "#ce6dbd"},
    "guided_gradcam": {"label": "Guided Grad-CAM", "colour": "#637939"},
}
_SPARE_COLOURS = ("#636363", "#17becf", "#bcbd22")


def method_styles(methods: Sequence[str]) -> dict[str, dict[str, str]]:
    """The ``method_styles`` trait: ``{method: {"label", "colour"}}`` for ``methods``."""
    styles = {}
    for i, method in enumerate(methods):
        spare = {"label": method, "colour": _SPARE_COLOURS[i % len(_SPARE_COLOURS)]}
        styles[method] = dict(METHOD_STYLES.get(method, spare))
    return styles
