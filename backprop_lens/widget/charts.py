"""bqplot charts beside the Explorer: the top-k class probabilities (click a bar to choose that
class) and each method's class sensitivity (the paper's mean normalised L2 distance)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bqplot
import ipywidgets

if TYPE_CHECKING:
    from .explorer import Explorer

_CHART_LAYOUT = {"width": "340px", "height": "260px"}


class ExplorerCharts:
    """The two charts of one Explorer, kept in step with its traits."""

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        self.probability_bars = bqplot.Bars(
            x=[], y=[], scales={"x": bqplot.OrdinalScale(), "y": bqplot.LinearScale(min=0, max=1)},
            interactions={"click": "select"}, selected_style={"fill": "#e6550d"},
            unselected_style={"opacity": 0.6}, colors=["#3182bd"],
        )
        self.sensitivity_bars = bqplot.Bars(
            x=[], y=[], scales={"x": bqplot.OrdinalScale(), "y": bqplot.LinearScale(min=0)},
            colors=["#756bb1"],
        )
        self.probabilities = _figure(self.probability_bars, "top classes", "probability")
        self.sensitivity = _figure(self.sensitivity_bars, "class sensitivity",
                                   "mean L2 distance, top-k maps")
        self.widget = ipywidgets.HBox([self.probabilities, self.sensitivity])
        self._top: list[int] = []
        self.probability_bars.observe(self._bar_selected, "selected")
        explorer.observe(self._show_probabilities, ["targets", "classes"])
        explorer.observe(self._show_selection, ["target", "layer"])
        explorer.observe(self._show_sensitivity, "sensitivity")
        self._show_probabilities()
        self._show_sensitivity()

    def _show_probabilities(self, change: Any = None) -> None:
        ranked = self.explorer.targets.get("output", [])[: self.explorer.top_k]
        self._top = [int(index) for index, _ in ranked]
        with self.probability_bars.hold_sync():
            self.probability_bars.x = [self.explorer.classes[i] for i in self._top]
            self.probability_bars.y = [score for _, score in ranked]
        self._show_selection()

    def _show_selection(self, change: Any = None) -> None:
        explorer = self.explorer
        shown = explorer.layer == "output" and explorer.target in self._top
        self.probability_bars.selected = [self._top.index(explorer.target)] if shown else None

    def _bar_selected(self, change: dict[str, Any]) -> None:
        selected = change["new"]
        if selected is None or len(selected) == 0:
            return
        target = self._top[int(selected[0])]
        if self.explorer.layer != "output":
            self.explorer.layer = "output"
        self.explorer.target = target

    def _show_sensitivity(self, change: Any = None) -> None:
        values = self.explorer.sensitivity
        methods = [m for m in self.explorer.methods if m in values]
        with self.sensitivity_bars.hold_sync():
            self.sensitivity_bars.x = methods
            self.sensitivity_bars.y = [values[m] for m in methods]


def _figure(bars: bqplot.Bars, title: str, y_label: str) -> bqplot.Figure:
    axes = [
        bqplot.Axis(scale=bars.scales["x"], tick_rotate=-30, tick_style={"font-size": "10px"}),
        bqplot.Axis(scale=bars.scales["y"], side="left", label=y_label,
                    tick_format=".2f"),
    ]
    return bqplot.Figure(marks=[bars], axes=axes, title=title, layout=_CHART_LAYOUT,
                         fig_margin={"top": 40, "bottom": 75, "left": 60, "right": 10})
