"""An Explorer's state in a page with no kernel: what ``ipywidgets.embed`` (``embed_minimal_html``,
``embed_snippet``, ``embed_data``), ``export_html`` and ``backprop-lens publish`` write for it.

Two rules, whatever route asks:

- every trait is written, defaults included, even with ``drop_defaults=True`` (the stock
  default): anywidget declares the front end itself (``_esm``, ``_css``) and the view's name as
  trait defaults, so dropping defaults would drop the code that draws the widget ("Class null
  not found");
- the state says that it is a page (``PAGE_FLAG``): the view then knows from its first frame that
  no kernel will answer, and offers only what the page holds (``js/kernelless.ts``). A notebook
  saved by JupyterLab is written by the front end, not by this hook, so it never carries the flag.

``PAGE_BARS`` is a string, not a widget, so ipywidgets' embed does not pull the bars into a page:
they come in only when the page shows them (the Explorer's layout box, or a layout that
``export.show_charts`` gives the charts).
"""

from __future__ import annotations

from typing import Any

#: The state keys (not traits) read by ``js/kernelless.ts``: the mark of an embedded Explorer,
#: and the model of its probability bars, which the page links to the target as Python would.
PAGE_FLAG = "_page"
PAGE_BARS = "_page_bars"


class PageEmbedding:
    """Mixin of the Explorer: its state for pages (``ipywidgets.embed`` hook).

    ipywidgets' embed reads each key of the state back from the widget (looking for widget
    references), so the two keys are attributes too: plain values, never a widget.
    """

    _page = True  # what PAGE_FLAG says, in every page

    @property
    def _page_bars(self) -> str:
        """PAGE_BARS: a reference to the probability bars' model (a page may not hold it)."""
        return f"IPY_MODEL_{self.charts.probability_bars.model_id}"  # type: ignore[attr-defined]

    def _get_embed_state(self, drop_defaults: bool = False) -> dict[str, Any]:
        """Every trait, defaults too, marked as a page, naming the bars."""
        state: dict[str, Any] = super()._get_embed_state(drop_defaults=False)  # type: ignore[misc]
        state["state"][PAGE_FLAG] = self._page
        state["state"][PAGE_BARS] = self._page_bars
        return state
