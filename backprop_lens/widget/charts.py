"""bqplot charts beside the Explorer: the top-k class probabilities (click a bar to choose that
class; with a perturbed input, the clean image's beside them), each method's class sensitivity
(the paper's mean normalised L2 distance), and, per method, how far the map moved under the
perturbation (1 − SSIM, clean vs perturbed) against how far the prediction moved (total
variation distance of the class probabilities)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import bqplot
import ipywidgets

from .keys import OUTPUT

_CHART_LAYOUT = {"width": "340px", "height": "260px"}


class ChartedWidget(Protocol):
    """The traits the charts read (and, on a click, ``layer`` and ``target``, which they set):
    the Explorer's, named here so that the charts need not import it."""

    layer: str
    target: int
    methods: list[str]
    classes: list[str]
    targets: dict[str, Any]
    top_k: int
    perturbed: bool
    clean_targets: list[Any]
    similarity: dict[str, float]
    prediction_shift: float
    sensitivity: dict[str, float]

    def observe(self, handler: Callable[[Any], None], names: str | list[str]) -> None: ...


class ExplorerCharts:
    """The three charts of one Explorer, kept in step with its traits."""

    def __init__(self, explorer: ChartedWidget) -> None:
        self.explorer = explorer
        self.probability_bars = bqplot.Bars(
            x=[], y=[], scales={"x": bqplot.OrdinalScale(), "y": bqplot.LinearScale(min=0, max=1)},
            interactions={"click": "select"}, selected_style={"fill": "#e6550d"},
            unselected_style={"opacity": 0.6}, colors=["#3182bd", "#bdbdbd"],
            type="grouped", labels=["now", "clean"], display_legend=False,
        )
        self.sensitivity_bars = bqplot.Bars(
            x=[], y=[], scales={"x": bqplot.OrdinalScale(), "y": bqplot.LinearScale(min=0)},
            colors=["#756bb1"],
        )
        self.probabilities = _figure(self.probability_bars, "top classes", "probability")
        self.sensitivity = _figure(self.sensitivity_bars, "class sensitivity",
                                   "mean L2 distance, top-k maps")
        self.moves = bqplot.Scatter(
            x=[], y=[], names=[], display_names=True, colors=["#31a354"], default_size=80,
            scales={"x": bqplot.LinearScale(min=0, max=1), "y": bqplot.LinearScale(min=0, max=1)},
        )
        self.movement = _figure(self.moves, "map moved vs prediction moved",
                                "map moved (1 − SSIM)", x_label="prediction moved (TV distance)")
        # Wraps onto a second line in narrow notebooks instead of being cut off.
        self.widget = ipywidgets.HBox([self.probabilities, self.sensitivity, self.movement],
                                      layout=ipywidgets.Layout(flex_flow="row wrap"))
        self._top: list[int] = []
        self.probability_bars.observe(self._bar_selected, "selected")
        explorer.observe(self._show_probabilities, ["targets", "classes", "clean_targets",
                                                    "perturbed"])
        explorer.observe(self._show_movement, ["similarity", "prediction_shift"])
        explorer.observe(self._show_selection, ["target", "layer"])
        explorer.observe(self._show_sensitivity, "sensitivity")
        self._show_probabilities()
        self._show_sensitivity()
        self._show_movement()

    def _show_probabilities(self, change: Any = None) -> None:
        explorer = self.explorer
        ranked = explorer.targets.get(OUTPUT, [])[: explorer.top_k]
        self._top = [int(index) for index, _ in ranked]
        rows = [[score for _, score in ranked]]
        if explorer.perturbed:
            clean = {int(index): score for index, score in explorer.clean_targets}
            rows.append([clean.get(index, 0.0) for index in self._top])
        with self.probability_bars.hold_sync():
            self.probability_bars.x = [explorer.classes[i] for i in self._top]
            self.probability_bars.y = rows
            self.probability_bars.display_legend = explorer.perturbed
        self._show_selection()

    def _show_selection(self, change: Any = None) -> None:
        explorer = self.explorer
        shown = explorer.layer == OUTPUT and explorer.target in self._top
        self.probability_bars.selected = [self._top.index(explorer.target)] if shown else None

    def _bar_selected(self, change: dict[str, Any]) -> None:
        selected = change["new"]
        if selected is None or len(selected) == 0:
            return
        target = self._top[int(selected[0])]
        if self.explorer.layer != OUTPUT:
            self.explorer.layer = OUTPUT
        self.explorer.target = target

    def _show_movement(self, change: Any = None) -> None:
        """One point per method: the paper's result at a glance (saliency moves, GBP stays)."""
        explorer = self.explorer
        methods = [m for m in explorer.methods if m in explorer.similarity]
        with self.moves.hold_sync():
            self.moves.x = [explorer.prediction_shift] * len(methods)
            self.moves.y = [max(0.0, 1.0 - explorer.similarity[m]) for m in methods]
            self.moves.names = methods
            self.moves.colors = [_METHOD_COLOURS.get(m, "#636363") for m in methods] or ["#636363"]

    def _show_sensitivity(self, change: Any = None) -> None:
        values = self.explorer.sensitivity
        methods = [m for m in self.explorer.methods if m in values]
        with self.sensitivity_bars.hold_sync():
            self.sensitivity_bars.x = methods
            self.sensitivity_bars.y = [values[m] for m in methods]


def _figure(bars: bqplot.Mark, title: str, y_label: str, x_label: str = "") -> bqplot.Figure:
    axes = [
        bqplot.Axis(scale=bars.scales["x"], tick_rotate=0 if x_label else -30,
                    tick_style={"font-size": "10px"}, label=x_label),
        bqplot.Axis(scale=bars.scales["y"], side="left", label=y_label,
                    tick_format=".2f"),
    ]
    return bqplot.Figure(marks=[bars], axes=axes, title=title, layout=_CHART_LAYOUT,
                         fig_margin={"top": 40, "bottom": 75, "left": 60, "right": 10})


_METHOD_COLOURS = {"saliency": "#e6550d", "deconvnet": "#756bb1", "guided_backprop": "#31a354"}
