"""The sanity-check chart beside the Explorer (Adebayo et al. 2018): per method, how similar its
map at each level of cascading randomisation is to the trained model's map, SSIM as solid lines,
Spearman rank correlation dashed, one colour per method (the buttons' colours, ``names``), and the
level the weights slider shows marked by a vertical line.

It reads the ``weights_similarity``, ``weight_levels`` and ``weights`` traits (``weights``), and is
shown once there are curves (bqplot cannot draw a hidden figure). bqplot is imported here, by
``charts``, after the Explorer's first map.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import bqplot
import ipywidgets

from .names import method_styles

#: Room for the value ticks on the left and the axis label below.
MARGIN = {"top": 36, "bottom": 44, "left": 44, "right": 16}


class SanityWidget(Protocol):
    """The traits the chart reads: the Explorer's."""

    methods: list[str]
    weights: str
    weight_levels: list[dict[str, str]]
    weights_similarity: dict[str, Any]

    def observe(self, handler: Callable[[Any], None], names: str | list[str]) -> None: ...


def curve_lines(explorer: SanityWidget, measure: str) -> tuple[list[str], list[list[float]]]:
    """The methods with curves, in the Explorer's order, and per method the ``measure``
    (``"ssim"`` or ``"spearman"``) at each level, NaN where not computed yet (a gap)."""
    curves = explorer.weights_similarity
    methods = [m for m in explorer.methods if m in curves]
    rows = [[math.nan if v is None else float(v) for v in curves[m][measure]] for m in methods]
    return methods, rows


class SanityChart:
    """The chart of one Explorer; ``on_shown()`` is called when it appears or goes (the
    Explorer's charts then lay out their box again)."""

    def __init__(self, explorer: SanityWidget, on_shown: Callable[[], None],
                 layout: dict[str, str]) -> None:
        self.explorer = explorer
        self._on_shown = on_shown
        x_scale = bqplot.LinearScale(min=0)
        y_scale = bqplot.LinearScale(min=-0.2, max=1)
        scales = {"x": x_scale, "y": y_scale}
        self.ssim = bqplot.Lines(x=[], y=[], scales=scales, stroke_width=2, marker="circle",
                                 marker_size=16)
        self.spearman = bqplot.Lines(x=[], y=[], scales=scales, stroke_width=1.5,
                                     line_style="dashed")
        self.current = bqplot.Lines(x=[0, 0], y=[-0.2, 1], scales=scales, stroke_width=2,
                                    colors=["var(--jp-ui-font-color1, #212121)"], opacities=[0.5])
        axes = [bqplot.Axis(scale=x_scale, label="units re-drawn, from the top",
                            label_offset="32px", tick_format="d",
                            tick_style={"font-size": "10px"}),
                bqplot.Axis(scale=y_scale, orientation="vertical", side="left", num_ticks=5,
                            tick_format=".1f", tick_style={"font-size": "10px"})]
        self.figure = bqplot.Figure(
            marks=[self.ssim, self.spearman, self.current], axes=axes,
            title="vs trained map: SSIM (—), Spearman (- -)", fig_margin=MARGIN,
            layout=ipywidgets.Layout(**layout), title_style={"font-size": "13px"})
        self.figure.add_class("chart-sanity")
        explorer.observe(self._show_curves, ["weights_similarity", "weight_levels"])
        explorer.observe(self._show_current, "weights")
        self._draw()

    def shown(self) -> tuple[bqplot.Figure, ...]:
        """The figure while there are curves to show, else nothing."""
        return (self.figure,) if self.explorer.weights_similarity else ()

    def _show_curves(self, change: Any = None) -> None:
        self._draw()
        self._on_shown()

    def _draw(self) -> None:
        styles = method_styles(self.explorer.methods)
        for mark, measure in ((self.ssim, "ssim"), (self.spearman, "spearman")):
            methods, rows = curve_lines(self.explorer, measure)
            with mark.hold_sync():
                mark.x = list(range(len(rows[0]))) if rows else []
                mark.y = rows
                mark.colors = [styles[m]["colour"] for m in methods] or ["#636363"]
                mark.labels = [styles[m]["label"] for m in methods]
        self._show_current()

    def _show_current(self, change: Any = None) -> None:
        names = [level["name"] for level in self.explorer.weight_levels]
        position = names.index(self.explorer.weights) if self.explorer.weights in names else 0
        self.current.x = [position, position]
