"""The Explorer: a notebook widget to scrub methods, targets and layers of any image classifier.

Python owns the state; the front end (``js/widget.ts``) is a view over these synced traits:

- chosen by the user (front end or Python): ``method``, ``target``, ``layer``, ``shared_scale``;
- owned by Python: ``status``, ``progress``, ``methods``, ``layers``, ``classes``, ``targets``
  (per layer, the indices to scrub, best first, with their score), ``maps`` (rendered maps by
  ``"layer/target/method"``), ``generation``, ``input_png``, ``conventions``, ``sensitivity``.

Maps are computed by a background worker (see ``scheduler``); new ones reach the front end as
binary messages at once, which the front end also folds into its copy of ``maps`` (so that a saved
notebook holds every map); the ``maps`` trait is sent whole only to a view that asks (``sync``).

This module holds the traits, their validation and the wiring to the worker; every other
concern has a module of its own (see the package's docstring).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import anywidget
import ipywidgets
import numpy as np
import torch
import traitlets
from torch import nn

from ..models import LensModel
from ..render import CONVENTIONS, ENCODINGS, encode
from .attacks import AttackRunner
from .charts import BUILD_DELAY_S, ExplorerCharts, LazyCharts
from .choices import FRONTEND_WRITABLE, ChoiceTraits, check_initial_choices
from .compute import RetainedForwards, compute_maps
from .defaults import DEFAULT_METHODS, as_spec, default_image, ordered_methods
from .embedding import PageEmbedding
from .frontend import static_path
from .grid import GridJob, PrecomputedGrid
from .keys import OUTPUT, map_key
from .maps import MapStore
from .messages import handle, message_type, status_error
from .names import method_styles
from .notes import crop_trait, flat_layer_notes
from .perturb_commands import PerturbationTraits
from .perturbation import PerturbationSession
from .rankings import Ranked, layer_choices, rank_targets
from .scheduler import (
    DEFAULT_CACHE_BYTES,
    PRECOMPUTE,
    VIEW,
    Job,
    Worker,
)
from .view_queue import ViewQueue
from .weights import WeightsControl, WeightsTraits


class Explorer(PageEmbedding, ChoiceTraits, PerturbationTraits, WeightsTraits, ViewQueue,
               anywidget.AnyWidget):
    """Saliency, DeconvNet and guided backprop of one image, for every target and layer.

    Args:
        model: a ``LensModel``, an ``nn.Module`` (wrapped by ``models.as_lens_model``), or a
            zoo name; the shipped shapes CNN when omitted.
        image: anything ``LensModel.preprocess`` accepts; a two-shape picture when omitted.
        methods: the methods to offer, from ``backprop_lens.METHODS`` (``"all"``: every one),
            shown rule methods first, SmoothGrad and Integrated Gradients last; the paper's
            three (saliency, DeconvNet, guided backprop) when omitted.
        top_k: how many of the best targets are precomputed right after the image is set.
        cache_mb: the memory cap of the rendered maps kept (least recently used dropped first).
        precompute: a grid of maps to compute and keep whole in the synced state, so that a
            saved or exported page scrubs it with no kernel. ``True``: every method × the top-k
            targets × the output layer. A dict chooses another grid: ``{"methods": [...],
            "layers": [...] or "all", "targets": [...] or k}``, where a list of targets holds
            class (or channel) indices and an int k means each layer's k best targets.
        encoding: how maps travel and are stored: ``"png"`` (lossless), ``"webp"`` or
            ``"jpeg"`` (smaller, lossy, with ``quality`` 1–100).
        **choices: the first ``method``, ``shared_scale``, ``show_hint``, ``overlay_opacity``
            (and the widget's ``layout``); any other name is a ``TypeError``.
    """

    _esm = static_path("widget.js")
    _css = static_path("widget.css")

    # The user's choices (``method``, ``target``, ``layer``, ``shared_scale``): ``ChoiceTraits'``.
    status = traitlets.Unicode("idle").tag(sync=True)
    progress = traitlets.Float(1.0).tag(sync=True)
    methods = traitlets.List(traitlets.Unicode()).tag(sync=True)
    layers = traitlets.List(traitlets.Dict()).tag(sync=True)
    classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    targets = traitlets.Dict().tag(sync=True)
    maps = traitlets.Dict().tag(sync=True)
    generation = traitlets.Int(0).tag(sync=True)
    input_png = traitlets.Bytes(b"").tag(sync=True)
    conventions = traitlets.Dict(CONVENTIONS).tag(sync=True)
    sensitivity = traitlets.Dict().tag(sync=True)
    model_name = traitlets.Unicode("").tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)

    # The perturbation's traits are ``PerturbationTraits'``.

    # What the view says in words (``names``, ``notes``; ``show_hint`` is a choice).
    method_styles = traitlets.Dict().tag(sync=True)
    crop = traitlets.Dict().tag(sync=True)
    layer_notes = traitlets.Dict().tag(sync=True)

    # The sanity check's traits are ``WeightsTraits'``.
    completeness = traitlets.Dict().tag(sync=True)  # Integrated Gradients', by map key

    def __init__(
        self,
        model: LensModel | nn.Module | str | None = None,
        image: Any = None,
        methods: Sequence[str] | str = DEFAULT_METHODS,
        top_k: int = 10,
        cache_mb: float = DEFAULT_CACHE_BYTES / 2**20,
        precompute: bool | Mapping[str, Any] | None = None,
        encoding: str = "png",
        quality: int = 85,
        **kwargs: Any,
    ) -> None:
        methods = ordered_methods(methods)
        if not methods:
            raise ValueError("methods must name at least one method")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int; got {top_k!r}")
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {sorted(ENCODINGS)}; got {encoding!r}")
        check_initial_choices(kwargs)
        self._ready = False  # the choices' observers wait for the first image
        super().__init__(methods=list(methods), method_styles=method_styles(methods), **kwargs)
        self.top_k = top_k
        self._encoding = (encoding, quality)
        self._grid = PrecomputedGrid(precompute, methods)
        self._maps = MapStore(self, int(cache_mb * 2**20))
        self._view_requests = 0
        self._viewing: tuple[str, int] | None = None  # the (layer, target) of that request
        # Strokes, undo, reset and a finished attack replace the input one at a time.
        self._input_lock = threading.RLock()
        self._worker = Worker(self._run_job, self._on_worker_state, self._on_worker_error)
        self._attacks = AttackRunner(self, self._worker.submit_task, self._input_lock,
                                     self._set_input)
        self.on_msg(self._on_custom_message)
        self._weights = WeightsControl(
            self, self._worker.submit_task,
            lambda rendered, pinned: self._maps.publish(
                rendered, self._worker.generation, True, self._grid.keys | pinned),
            lambda: (self._spec, self._session.x, self._encoding, self._worker.generation))
        self._spec = as_spec(model)
        self._image = default_image(self._spec) if image is None else image
        self._load()
        self._charts = LazyCharts(self)
        self._box = ipywidgets.VBox([self, self._charts.slot])

    @property
    def charts(self) -> ExplorerCharts:
        """The bqplot charts below the Explorer: built on first use, or soon after display."""
        return self._charts.get()

    @property
    def layout_box(self) -> ipywidgets.VBox:
        """The Explorer with its charts below it, as displayed (the charts built)."""
        self._charts.get()
        return self._box

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Displayed with its charts below it, filled in once the first map is shown."""
        self._charts.build_soon(BUILD_DELAY_S)
        return self._box._repr_mimebundle_(**kwargs)

    # --- what is being explored ----------------------------------------------------------

    @property
    def model(self) -> LensModel:
        return self._spec

    @model.setter
    def model(self, model: LensModel | nn.Module | str) -> None:
        self._spec = as_spec(model)
        self._load()

    @property
    def image(self) -> Any:
        return self._image

    @image.setter
    def image(self, image: Any) -> None:
        self._image = image
        self._load()

    @property
    def grid(self) -> frozenset[str]:
        """[export hook] The keys (``"layer/target/method"``) of the precomputed grid for the
        current image; empty when no ``precompute`` was asked for."""
        return self._grid.keys

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued map is computed; False if ``timeout`` (s) ran out first."""
        return self._worker.wait_idle(timeout)

    def _load(self) -> None:
        """Show ``self._image`` through ``self._spec``: reset every derived trait, compute the
        first map now (so the first paint needs no worker), queue the top-k maps."""
        spec = self._spec
        x = spec.preprocess(self._image)
        probabilities, targets = rank_targets(spec, x)
        grid = self._grid.jobs(targets, self.top_k)
        generation = self._new_generation(grid)
        self._session = PerturbationSession(spec, x, probabilities)
        self._forwards = RetainedForwards(spec)  # the worker's only, the former input's dropped
        self._attacks.drop()  # a running attack's result is dropped
        self._sensitivity: dict[str, float] = {}
        top = int(targets[OUTPUT][0][0])
        first = compute_maps(spec, x, OUTPUT, self.method, [top], self._encoding).rendered
        # Observers run once everything is consistent (the charts read several traits).
        with self.hold_sync(), self.hold_trait_notifications():
            self._ready = False
            self.classes = list(spec.classes)
            self._show_input(probabilities, targets, generation)
            self.layers = layer_choices(spec, targets)
            self.model_name = spec.name
            self.sensitivity = {}
            self.input_shape = list(self._session.shape)
            self.clean_targets = targets[OUTPUT]
            self.attacking = False
            self.layer = OUTPUT
            self.target = top
            self.crop = crop_trait(self._image, spec.input_size)
            self.layer_notes = {}
            self.completeness = {}
            self._weights.reset(spec)
            self._ready = True
        self._maps.publish(first, generation, notify=False, pinned=self._grid.keys)
        self._precompute_top(OUTPUT)
        self.note = self._grid.note(bytes_per_map=len(next(iter(first.values())).image))
        for layer, method, indices in grid:
            self._worker.submit(PRECOMPUTE, layer, method, indices)
        self._worker.submit_task(lambda: setattr(self, "layer_notes", flat_layer_notes(spec, x)),
                                 VIEW)

    def _new_generation(self, grid: list[GridJob]) -> int:
        """Drop every job and map of the former input; ``grid`` is the new precomputed grid."""
        generation = self._worker.new_generation()
        self._maps.clear()
        self._grid.keep(grid)
        self._weights.reset()
        return generation

    def _show_input(self, probabilities: torch.Tensor, targets: Ranked, generation: int) -> None:
        """The traits of the session's input, whose class probabilities and ranked targets
        are given, with no maps yet."""
        self.targets = targets
        self.input_png = encode(self._spec.deprocess(self._session.x))
        self.generation = generation
        self.maps = {}
        for name, value in self._session.traits(probabilities).items():
            setattr(self, name, value)
        self.status = "computing"

    # --- perturbations -------------------------------------------------------------------

    def _set_input(self, delta: torch.Tensor, mask: np.ndarray, undoable: bool = True,
                   report: dict[str, Any] | None = None) -> None:
        """Explain ``clean + delta`` from now on (made by the attack ``report`` describes;
        None: a stroke): rank its targets again, keep the layer and target, drop every map
        of the former input, and queue the maps the view shows."""
        with self._input_lock:
            x = self._session.input_for(delta)
            probabilities, targets = rank_targets(self._spec, x)
            generation = self._new_generation([])  # a perturbed input has no grid
            self._session.apply(x, delta, mask, undoable, report)
            with self.hold_sync():
                self._ready = False
                self._show_input(probabilities, targets, generation)
                self._ready = True
            self._request_view()
            self._precompute_top(OUTPUT)

    # --- the front end's messages ----------------------------------------------------------

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Updates from the front end: rejected whole, and shown, when anything is invalid;
        the front end is then sent the valid state back."""
        forbidden = sorted(set(sync_data) - FRONTEND_WRITABLE)
        try:
            if forbidden:
                raise traitlets.TraitError(f"the front end may not set {forbidden}")
            super().set_state(sync_data)
        except (traitlets.TraitError, TypeError, ValueError) as exc:
            self.status = status_error(exc)
            self.send_state([key for key in sync_data if key in self.keys])

    def _on_custom_message(self, widget: Any, content: Any, buffers: list[Any]) -> None:
        if message_type(content) == "sync":
            self.send({"type": "synced"})  # tells the view that a kernel is there
            self._charts.build_soon()  # the view is up: bqplot's import no longer delays it
            return
        failed = handle(self, content, buffers)  # see ``messages``
        if failed:
            self.status = failed

    # --- requests ------------------------------------------------------------------------

    @traitlets.observe("layer")
    def _layer_changed(self, change: dict[str, Any]) -> None:
        """A new layer starts at its best target; its top-k are precomputed."""
        if not self._ready:
            return
        self._drop_work_left_behind(self.layer)
        best = self.targets[self.layer][0][0]
        if best != self.target:
            self.target = best  # whose observer requests the view: once, or a second request
        else:  # would queue the same maps again
            self._request_view()
        if self.layer != OUTPUT:
            self._precompute_top(self.layer)

    @traitlets.observe("method", "target", "weights")
    def _choice_changed(self, change: dict[str, Any]) -> None:
        if self._ready:
            self._request_view()
            if self.perturbed:
                self._show_similarity()

    def _show_similarity(self) -> None:
        """``similarity``: each method's clean vs perturbed map at the current layer/target."""
        self.similarity = self._session.similarity_at(self.layer, self.target, self.methods)

    # --- the worker's side ---------------------------------------------------------------

    def _run_job(self, job: Job) -> None:
        session = self._session
        x, clean = session.x, session.clean
        compare = x is not clean  # a perturbed input: its maps are compared with the clean ones
        todo = [t for t in job.targets
                if not self._maps.has(map_key(job.layer, t, job.method), compare)]
        if not todo:
            return
        # A precomputed batch is redone whole: the class-sensitivity statistic needs all of it.
        batch = job.priority == PRECOMPUTE
        found = compute_maps(self._spec, x, job.layer, job.method, job.targets if batch else todo,
                             self._encoding, clean if compare else None, self._forwards)
        if not self._worker.is_current(job):
            return
        if found.sensitivity is not None:
            self._sensitivity[job.method] = found.sensitivity
        session.similarities.update(found.similarities)
        if found.completeness:
            self.completeness = {**self.completeness, **found.completeness}
        self._maps.publish(found.rendered, job.generation, notify=True, pinned=self._grid.keys)
        if compare:
            self._show_similarity()
        if batch and job.layer == OUTPUT:
            self.sensitivity = dict(self._sensitivity)

    def _on_worker_state(self, busy: bool, done: int, total: int) -> None:
        self.progress = done / total if total else 1.0
        if not busy and self._ready and self._viewing != (self.layer, self.target):
            # A view message that no state followed left the view shown without its maps.
            busy = self._request_view()
        if not self.status.startswith("error"):
            self.status = "computing" if busy else "idle"

    def _on_worker_error(self, exc: BaseException) -> None:
        self.status = f"error: {type(exc).__name__}: {exc}"
