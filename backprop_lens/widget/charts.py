"""bqplot charts beside the Explorer: the top-k class probabilities (click a bar to choose that
class; with a perturbed input, the clean image's beside them), each method's class sensitivity
(the paper's mean normalised L2 distance), and, once something is perturbed, how far each
method's map moved (1 − SSIM, clean vs perturbed) beside how far the prediction moved (total
variation distance of the class probabilities).

Made to be read at a notebook's width: bars are horizontal, so that class and method names sit
on the left, whole and unrotated; methods have the labels and colours of the buttons
(``names``); "now" and "clean" have one colour each, and the chosen class is outlined, not
recoloured. The charts follow the JupyterLab theme (``js/widget.css``, ``.bl-charts``).

bqplot (and pandas under it) is imported when the charts are built, which ``LazyCharts`` does
after the Explorer's first map is on screen: the first map of a fresh kernel never waits for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import ipywidgets

from .keys import OUTPUT
from .names import method_styles

if TYPE_CHECKING:
    import bqplot

#: "now" (the input explained) and "clean" (before any perturbation) in the probability chart.
NOW_COLOUR, CLEAN_COLOUR = "#3182bd", "#9e9e9e"
#: The chosen class is outlined in the theme's text colour, whatever its bars' colours.
CHOSEN_STYLE = {"stroke": "var(--jp-ui-font-color1, #212121)", "stroke-width": "2.5"}
#: Class names longer than this are cut, visibly (…), so that the chart keeps its bars.
MAX_NAME = 22
#: A fixed size: two charts fit side by side in JupyterLab's output at a 1000 px window (file
#: browser open), three at 1280 px; and a chart never changes size when the third one joins
#: (bqplot does not redraw for a change of its siblings).
CHART_LAYOUT = {"width": "270px", "height": "250px", "flex": "none"}
#: Room for class names (``MAX_NAME`` characters) on the left, for the last tick on the right.
MARGIN = {"top": 36, "bottom": 44, "left": 128, "right": 24}
#: Method labels need less room than class names.
METHOD_MARGIN = {**MARGIN, "left": 104}
#: How long a displayed Explorer waits for its view's first message before building its charts.
BUILD_DELAY_S = 3.0


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
    weights: str
    weight_levels: list[dict[str, str]]
    weights_similarity: dict[str, Any]

    def observe(self, handler: Callable[[Any], None], names: str | list[str]) -> None: ...


class LazyCharts:
    """The charts of one Explorer, built once, on first use or soon after display, into
    ``slot`` (the box shown below the Explorer, empty until then)."""

    def __init__(self, explorer: ChartedWidget) -> None:
        self._explorer = explorer
        self._charts: ExplorerCharts | None = None
        self._lock = threading.Lock()
        self._soon = threading.Event()
        self._scheduled = False
        self.slot = ipywidgets.HBox(layout=ipywidgets.Layout(flex_flow="row wrap", width="100%"))
        self.slot.add_class("bl-charts")

    @property
    def built(self) -> bool:
        return self._charts is not None

    def get(self) -> ExplorerCharts:
        """The charts, built now if they were not yet (and shown in ``slot``)."""
        with self._lock:
            if self._charts is None:
                self._charts = ExplorerCharts(self._explorer, self.slot)
            return self._charts

    def build_soon(self, delay: float = 0.0) -> None:
        """Build the charts on a background thread, after ``delay`` seconds or at the next
        ``build_soon()`` without one (the view's first message), whichever comes first."""
        if delay <= 0:
            self._soon.set()
        with self._lock:
            if self._scheduled or self._charts is not None:
                return
            self._scheduled = True

        def build() -> None:
            self._soon.wait(delay if delay > 0 else None)
            self.get()

        threading.Thread(target=build, name="backprop-lens-charts", daemon=True).start()


class ExplorerCharts:
    """The charts of one Explorer, kept in step with its traits, shown in ``box``: the first
    two always, the third while something is perturbed (bqplot cannot draw a hidden figure)."""

    def __init__(self, explorer: ChartedWidget, box: ipywidgets.Box) -> None:
        import bqplot

        self.explorer = explorer
        styles = method_styles(explorer.methods)
        self._labels = {m: style["label"] for m, style in styles.items()}
        self._colours = {m: style["colour"] for m, style in styles.items()}
        self.probability_bars = bqplot.Bars(
            x=[], y=[], orientation="horizontal", type="grouped", color_mode="element",
            scales={"x": bqplot.OrdinalScale(reverse=True), "y": bqplot.LinearScale(min=0, max=1)},
            interactions={"click": "select"}, selected_style=CHOSEN_STYLE, unselected_style={},
            colors=[NOW_COLOUR], labels=["now"], padding=0.2,
        )
        self.probabilities = _figure(self.probability_bars, "top classes", "probability",
                                     testid="chart-probabilities")
        self.sensitivity_bars = _method_bars()
        self.sensitivity = _figure(self.sensitivity_bars, "class sensitivity: computing…",
                                   "mean L2 distance, top-k maps",
                                   testid="chart-sensitivity", margin=METHOD_MARGIN)
        self.moves = _method_bars(maximum=1.0)
        self.prediction_line = bqplot.Lines(
            x=[], y=[0, 1], colors=[NOW_COLOUR], line_style="dashed", stroke_width=2,
            scales={"x": self.moves.scales["y"], "y": bqplot.LinearScale(min=0, max=1)},
        )
        self.movement = _figure(self.moves, "what moved", "1 − SSIM of the maps",
                                testid="chart-movement", extra=[self.prediction_line],
                                margin=METHOD_MARGIN)
        self.figures = [self.probabilities, self.sensitivity, self.movement]
        self.box = box
        self._top: list[int] = []
        from .sanity_chart import SanityChart  # bqplot's, imported with it

        #: Per method, each randomisation level's map vs the trained one (``weights``).
        self.sanity = SanityChart(explorer, self._show_movement, CHART_LAYOUT)
        self.probability_bars.observe(self._bar_selected, "selected")
        explorer.observe(self._show_probabilities, ["targets", "classes", "clean_targets",
                                                    "perturbed"])
        explorer.observe(self._show_movement, ["similarity", "prediction_shift", "perturbed"])
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
        bars = self.probability_bars
        with bars.hold_sync():
            bars.x = [_short(explorer.classes[i]) for i in self._top]
            bars.y = rows
            bars.colors = [NOW_COLOUR, CLEAN_COLOUR][: len(rows)]
            bars.labels = ["now", "clean"] if explorer.perturbed else ["now"]
        # The title is the legend: bqplot's legend box would cover the bars.
        self.probabilities.title = ("now (blue) vs clean (grey)" if explorer.perturbed
                                    else "top classes")
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
        """Per method, how far its map moved; the dashed line: how far the prediction moved
        (the paper's result at a glance: saliency moves with it, GBP stays). Shown only while
        something is perturbed."""
        explorer = self.explorer
        shown = (*(self.figures if explorer.perturbed else self.figures[:2]),
                 *self.sanity.shown())
        if tuple(self.box.children) != shown:
            self.box.children = shown
        methods = [m for m in explorer.methods if m in explorer.similarity]
        self._show_methods(self.moves, methods,
                           [max(0.0, 1.0 - explorer.similarity[m]) for m in methods])
        shift = explorer.prediction_shift
        self.prediction_line.x = [shift, shift] if explorer.perturbed else []
        # The axis says what the bars are; the title, what the dashed line is.
        self.movement.title = f"maps; - - prediction: TV {shift:.2f}"

    def _show_sensitivity(self, change: Any = None) -> None:
        values = self.explorer.sensitivity
        methods = [m for m in self.explorer.methods if m in values]
        self._show_methods(self.sensitivity_bars, methods, [values[m] for m in methods])
        self.sensitivity.title = ("class sensitivity of the maps" if methods
                                  else "class sensitivity: computing…")

    def _show_methods(self, bars: bqplot.Bars, methods: Sequence[str],
                      values: Sequence[float]) -> None:
        with bars.hold_sync():
            bars.x = [self._labels[m] for m in methods]
            bars.y = list(values)
            bars.colors = [self._colours[m] for m in methods] or [CLEAN_COLOUR]


def _method_bars(maximum: float | None = None) -> bqplot.Bars:
    """Horizontal bars, one per method, coloured per method."""
    import bqplot

    return bqplot.Bars(
        x=[], y=[], orientation="horizontal", color_mode="group", padding=0.3,
        scales={"x": bqplot.OrdinalScale(reverse=True),
                "y": bqplot.LinearScale(min=0, max=maximum)},
    )


def _figure(bars: bqplot.Bars, title: str, value_label: str, testid: str,
            extra: Sequence[bqplot.Mark] = (), margin: dict[str, int] = MARGIN) -> bqplot.Figure:
    """A chart of horizontal ``bars``: names on the left, values along the bottom."""
    import bqplot

    axes = [
        bqplot.Axis(scale=bars.scales["x"], side="left",
                    tick_style={"font-size": "11px"}),
        bqplot.Axis(scale=bars.scales["y"], side="bottom",
                    label=value_label, label_offset="32px", num_ticks=5, tick_format=".2~f",
                    tick_style={"font-size": "10px"}),
    ]
    figure = bqplot.Figure(marks=[bars, *extra], axes=axes, title=title,
                           layout=ipywidgets.Layout(**CHART_LAYOUT), fig_margin=margin,
                           title_style={"font-size": "13px"})
    figure.add_class(testid)
    return figure


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"
