"""The Explorer: a notebook widget to scrub methods, targets and layers of any image classifier.

Python owns the state; the front end (``js/widget.ts``) is a view over these synced traits:

- chosen by the user (front end or Python): ``method``, ``target``, ``layer``, ``shared_scale``;
- owned by Python: ``status``, ``progress``, ``methods``, ``layers``, ``classes``, ``targets``
  (per layer, the indices to scrub, best first, with their score), ``maps`` (rendered maps by
  ``"layer/target/method"``), ``generation``, ``input_png``, ``conventions``, ``sensitivity``.

Maps are computed by a background worker (see ``scheduler``); new ones reach the front end as
binary messages at once, and the ``maps`` trait is synced whole whenever the worker goes idle,
so that saved notebooks and exported pages hold every map computed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets
import numpy as np
import torch
import traitlets
from torch import nn

from .. import data, models
from ..adversarial import AttackReport, pgd, pixels_to_input_units
from ..engine import METHODS, attribute, get_method
from ..engine.activations import layer_channel_scores
from ..metrics import class_sensitivity, ssim
from ..models import LensModel
from ..render import (
    ABS_GREY,
    CONVENTIONS,
    ENCODINGS,
    RenderedMap,
    convention_for,
    encode,
    render_map,
)
from .charts import ExplorerCharts
from .perturb import (
    AttackRequest,
    apply_stroke,
    check_attack,
    check_stroke,
    perturbation_picture,
    prediction_shift,
)
from .scheduler import DEFAULT_CACHE_BYTES, PRECOMPUTE, VIEW, Job, MapCache, Worker

STATIC = Path(__file__).resolve().parent.parent / "static"

#: The ``layer`` value that stands for the model's output (its logits).
OUTPUT = "output"

DEFAULT_MODEL = "shapes_cnn"
#: The default picture: a star and an arrow, which the shapes CNN ranks as its top two classes
#: (p = 0.83 and 0.15), so that scrubbing the target shows which maps follow the class.
DEFAULT_IMAGE_SEED = 47

#: [publish hook] The environment variable that gives ``precompute`` its default: "1" makes every
#: Explorer created without ``precompute`` precompute its default grid. ``backprop-lens publish``
#: sets it in the kernel that runs the notebook, so that every Explorer of the page scrubs.
PRECOMPUTE_ENV = "BACKPROP_LENS_PRECOMPUTE"


def default_precompute() -> bool:
    """``precompute``'s default (see ``PRECOMPUTE_ENV``)."""
    return os.environ.get(PRECOMPUTE_ENV) == "1"


#: Traits the front end may set; everything else is Python's.
FRONTEND_WRITABLE = frozenset({"method", "target", "layer", "shared_scale"})


def map_key(layer: str, target: int, method: str) -> str:
    return f"{layer}/{target}/{method}"


#: The prefix of the keys of maps of the clean input, kept beside those of a perturbed one.
CLEAN = "clean/"

#: How many earlier perturbations ``undo`` can go back to.
UNDO_DEPTH = 32

#: The map similarity shown between the clean and the perturbed input (named in the UI).
SIMILARITY_METRIC = "SSIM"


def static_path(name: str) -> Path:
    """A file the front-end build (``npm run build``) puts into the package: the bundle, and
    what exported pages inline (the loader, the widget manager, the icon font)."""
    path = STATIC / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build the front end with `npm run build` "
                                "(or `make setup`) in the project folder")
    return path


def _as_spec(model: LensModel | nn.Module | str | None) -> LensModel:
    if model is None:
        return models.load(DEFAULT_MODEL)
    if isinstance(model, str):
        return models.load(model)
    return models.as_lens_model(model)


def _default_image() -> Any:
    return data.shapes.generate(1, seed=DEFAULT_IMAGE_SEED, objects=2).images[0]


def _shape_label(shape: Sequence[int]) -> str:
    return "×".join(str(s) for s in shape)


class Explorer(anywidget.AnyWidget):
    """Saliency, DeconvNet and guided backprop of one image, for every target and layer.

    Args:
        model: a ``LensModel``, an ``nn.Module`` (wrapped by ``models.as_lens_model``), or a
            zoo name; the shipped shapes CNN when omitted.
        image: anything ``LensModel.preprocess`` accepts; a two-shape picture when omitted.
        methods: the methods to offer, from ``backprop_lens.METHODS``.
        top_k: how many of the best targets are precomputed right after the image is set.
        cache_mb: the memory cap of the rendered maps kept (least recently used dropped first).
        precompute: a grid of maps to compute and keep whole in the synced state, so that a
            saved or exported page scrubs it with no kernel. ``True``: every method × the top-k
            targets × the output layer. A dict chooses another grid: ``{"methods": [...],
            "layers": [...] or "all", "targets": [...] or k}``, where a list of targets holds
            class (or channel) indices and an int k means each layer's k best targets.
        encoding: how maps travel and are stored: ``"png"`` (lossless), ``"webp"`` or
            ``"jpeg"`` (smaller, lossy, with ``quality`` 1–100).
    """

    _esm = static_path("widget.js")
    _css = static_path("widget.css")

    method = traitlets.Unicode("guided_backprop").tag(sync=True)
    target = traitlets.Int(0).tag(sync=True)
    layer = traitlets.Unicode(OUTPUT).tag(sync=True)
    shared_scale = traitlets.Bool(False).tag(sync=True)

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

    # Perturbations (all Python's): the input shown and explained is clean + perturbation.
    input_shape = traitlets.List(traitlets.Int()).tag(sync=True)  # [H, W] of the model input
    perturbed = traitlets.Bool(False).tag(sync=True)
    perturbation_png = traitlets.Bytes(b"").tag(sync=True)  # amplified, grey = no change
    perturbation_scale = traitlets.Float(0.0).tag(sync=True)  # its largest change, pixel steps
    undo_depth = traitlets.Int(0).tag(sync=True)
    clean_targets = traitlets.List(traitlets.List()).tag(sync=True)  # clean output ranking
    similarity_metric = traitlets.Unicode(SIMILARITY_METRIC).tag(sync=True)
    similarity = traitlets.Dict().tag(sync=True)  # method → clean vs perturbed map, current key
    prediction_shift = traitlets.Float(0.0).tag(sync=True)  # total variation, clean vs now
    attacking = traitlets.Bool(False).tag(sync=True)
    attack_report = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        model: LensModel | nn.Module | str | None = None,
        image: Any = None,
        methods: Sequence[str] = METHODS,
        top_k: int = 10,
        cache_mb: float = DEFAULT_CACHE_BYTES / 2**20,
        precompute: bool | Mapping[str, Any] | None = None,
        encoding: str = "png",
        quality: int = 85,
        **kwargs: Any,
    ) -> None:
        methods = tuple(get_method(m).name for m in methods)
        if not methods:
            raise ValueError("methods must name at least one method")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int; got {top_k!r}")
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {sorted(ENCODINGS)}; got {encoding!r}")
        super().__init__(methods=list(methods), **kwargs)
        self.top_k = top_k
        self._encoding = (encoding, quality)
        if precompute is None:  # [publish hook]
            precompute = default_precompute()
        self._precompute = _check_grid(precompute, methods)
        self._grid: set[str] = set()
        self._cache = MapCache(int(cache_mb * 2**20))
        self._maps_lock = threading.Lock()
        self._view_requests = 0
        self._ready = False
        self._input_lock = threading.RLock()
        self._cancel = threading.Event()
        self._attack_id = 0
        self._undo: list[tuple[torch.Tensor, np.ndarray]] = []
        self._similarities: dict[str, float] = {}
        self._worker = Worker(self._run_job, self._on_worker_state, self._on_worker_error)
        self.on_msg(self._on_custom_message)
        self._spec = _as_spec(model)
        self._image = _default_image() if image is None else image
        self._load()
        self.charts = ExplorerCharts(self)
        self.layout_box = ipywidgets.VBox([self, self.charts.widget])

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Displayed with its charts below it."""
        return self.layout_box._repr_mimebundle_(**kwargs)

    # --- what is being explored ----------------------------------------------------------

    @property
    def model(self) -> LensModel:
        return self._spec

    @model.setter
    def model(self, model: LensModel | nn.Module | str) -> None:
        spec = _as_spec(model)
        self._spec = spec
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
        return frozenset(self._grid)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued map is computed; False if ``timeout`` (s) ran out first."""
        return self._worker.wait_idle(timeout)

    def _load(self) -> None:
        """Show ``self._image`` through ``self._spec``: reset every derived trait, compute the
        first map now (so the first paint needs no worker), queue the top-k maps."""
        spec = self._spec
        x = spec.preprocess(self._image)
        probabilities, targets = self._rankings(x)
        layers = [{"name": OUTPUT, "label": f"output · {len(spec.classes)} classes"}]
        layers += [{"name": name, "label": f"{name} · {_shape_label(shape)}"}
                   for name, shape in reversed(spec.layers) if name in targets]
        grid = [] if self._precompute is None else _grid_jobs(self._precompute, targets,
                                                               self.top_k)
        generation = self._worker.new_generation()
        self._cache.clear()
        self._grid = {map_key(layer, t, method) for layer, method, targets in grid
                      for t in targets}
        self._x = self._clean_x = x
        self._delta = torch.zeros_like(x)
        self._mask = np.zeros(tuple(x.shape[-2:]), dtype=np.float64)
        self._undo.clear()
        self._attack_id += 1  # a running attack's result is dropped
        self._similarities = {}
        self._noise = torch.Generator().manual_seed(0)
        self._clean_probabilities = probabilities
        self._sensitivity: dict[str, float] = {}
        top = int(targets[OUTPUT][0][0])
        first = self._compute(OUTPUT, self.method, [top])
        # Observers run once everything is consistent (the charts read several traits).
        with self.hold_sync(), self.hold_trait_notifications():
            self._ready = False
            self.classes = list(spec.classes)
            self.targets = targets
            self.layers = layers
            self.model_name = spec.name
            self.input_png = encode(spec.deprocess(x))
            self.generation = generation
            self.sensitivity = {}
            self.maps = {}
            self.input_shape = [int(n) for n in x.shape[-2:]]
            self.perturbed = False
            self.perturbation_png = b""
            self.perturbation_scale = 0.0
            self.undo_depth = 0
            self.clean_targets = targets[OUTPUT]
            self.similarity = {}
            self.prediction_shift = 0.0
            self.attacking = False
            self.layer = OUTPUT
            self.target = top
            self.status = "computing"
            self._ready = True
        self._publish(first, generation, notify=False)
        for method in self._methods_current_first():
            self._worker.submit(PRECOMPUTE, OUTPUT, method, self._top_targets(OUTPUT))
        self._submit_grid(grid, len(next(iter(first.values())).image))

    def _rankings(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, list[list[float]]]]:
        """The class probabilities of ``x``, and the ranked targets of every layer."""
        layer_names = [name for name, _ in self._spec.layers]
        logits, scores = layer_channel_scores(self._spec.module, x, layer_names)
        probabilities = logits[0].softmax(dim=0)
        targets = {OUTPUT: _ranked(probabilities)}
        targets.update({name: _ranked(scores[name]) for name in layer_names if name in scores})
        return probabilities, targets

    # --- perturbations -------------------------------------------------------------------

    @property
    def clean_input(self) -> torch.Tensor:
        """The model input of the clean image (never changed by strokes or attacks)."""
        return self._clean_x

    @property
    def perturbation(self) -> torch.Tensor:
        """The perturbation in input units, shaped like the input: what is explained is
        ``clean_input + perturbation``."""
        return self._delta

    @property
    def painted(self) -> np.ndarray:
        """(H, W) in [0, 1]: the painted region (the mask of a masked attack)."""
        return self._mask

    def _set_input(self, delta: torch.Tensor, mask: np.ndarray, undoable: bool = True) -> None:
        """Explain ``clean + delta`` from now on: rank its targets again, keep the layer and
        target, drop every map of the former input, and queue the maps the view shows."""
        with self._input_lock:
            if undoable:
                self._undo = [*self._undo, (self._delta, self._mask)][-UNDO_DEPTH:]
            perturbed = bool(delta.abs().max() > 0)
            x = self._clean_x + delta if perturbed else self._clean_x
            probabilities, targets = self._rankings(x)
            generation = self._worker.new_generation()
            self._cache.clear()
            self._grid = set()
            self._x, self._delta, self._mask = x, delta, mask
            self._similarities = {}
            picture, largest = perturbation_picture(self._spec, delta)
            with self.hold_sync():
                self._ready = False
                self.targets = targets
                self.input_png = encode(self._spec.deprocess(x))
                self.perturbation_png = encode(picture) if perturbed else b""
                self.perturbation_scale = largest
                self.perturbed = perturbed
                self.undo_depth = len(self._undo)
                self.generation = generation
                self.maps = {}
                self.similarity = {}
                self.prediction_shift = prediction_shift(self._clean_probabilities,
                                                         probabilities)
                self.status = "computing"
                self._ready = True
            self._request_view()
            for method in self._methods_current_first():
                self._worker.submit(PRECOMPUTE, OUTPUT, method, self._top_targets(OUTPUT))

    def _stroke(self, content: Mapping[str, Any], buffers: Sequence[Any]) -> None:
        shape = (int(self._clean_x.shape[-2]), int(self._clean_x.shape[-1]))
        stroke = check_stroke(content, buffers, shape)
        if self.attacking:
            raise ValueError("an attack is running: wait for it, or cancel it, before painting")
        delta, mask = apply_stroke(self._spec, self._clean_x, self._delta, self._mask, stroke,
                                   self._noise)
        self._set_input(delta, mask)

    def undo(self) -> None:
        """Go back to the perturbation before the last stroke or attack."""
        if self.attacking:
            raise ValueError("an attack is running: wait for it, or cancel it, before undoing")
        if not self._undo:
            raise ValueError("nothing to undo")
        delta, mask = self._undo[-1]
        self._undo = self._undo[:-1]
        self._set_input(delta, mask, undoable=False)

    def reset(self) -> None:
        """Back to the clean image: no perturbation, no undo history, a running attack
        cancelled."""
        self._cancel.set()
        with self._input_lock:
            self._load()

    def attack(self, method: str = "pgd", eps: float = 8.0, steps: int = 10,
               target: int | None = None, masked: bool = False) -> None:
        """Replace the perturbation by an FGSM or PGD attack on the clean image, within ``eps``
        0–255 pixel steps (L∞), untargeted or towards ``target``, and with ``masked`` only
        inside the painted region. Runs in the background (``wait()``; ``cancel()``)."""
        request = check_attack({"method": method, "eps": eps, "steps": steps,
                                "target": target, "masked": masked},
                               len(self.classes), bool(self._mask.any()))
        if self.attacking:
            raise ValueError("an attack is running already")
        self._cancel.clear()
        self._attack_id += 1
        attack_id = self._attack_id
        self.attacking = True
        self.status = "computing"
        self.progress = 0.0
        self._worker.submit_task(lambda: self._attack(request, attack_id))

    def cancel(self) -> None:
        """Stop a running attack; the input stays as it was before it."""
        self._cancel.set()

    def _attack(self, request: AttackRequest, attack_id: int) -> None:
        def dropped() -> bool:
            return self._cancel.is_set() or attack_id != self._attack_id

        try:
            spec, clean = self._spec, self._clean_x
            eps = pixels_to_input_units(spec, request.eps).to(clean.dtype)
            step = eps if request.method == "fgsm" else eps * 2.5 / request.steps
            mask = torch.from_numpy(self._mask) if request.masked else None
            label = request.method.upper()

            def on_step(done: int, steps: int) -> bool:
                self.progress = done / steps
                self.note = f"{label} step {done} of {steps}"
                return dropped()

            x_adv, report = pgd(spec, clean, eps, step, request.steps, target=request.target,
                                mask=mask, on_step=on_step)
            self.note = ""
            with self._input_lock:
                if dropped():
                    self.attack_report = {"method": request.method, "cancelled": True}
                    return
                self._apply_attack(request, report, (x_adv - clean).detach())
        finally:
            if attack_id == self._attack_id:
                self.attacking = False

    def _apply_attack(self, request: AttackRequest, report: AttackReport,
                      delta: torch.Tensor) -> None:
        self.attack_report = {
            "method": request.method, "eps": request.eps, "steps": report.steps,
            "target": request.target, "masked": request.masked, "cancelled": False,
            "before": report.before[0], "after": report.after[0],
            "confidence_before": report.confidence_before[0],
            "confidence_after": report.confidence_after[0],
            "success": report.success[0],
        }
        self._set_input(delta, self._mask)

    def _submit_grid(self, jobs: list[GridJob], bytes_per_map: int) -> None:
        """Queue the precomputed grid (if any), after telling how large it will be."""
        if not jobs:
            self.note = ""
            return
        self.note = (f"precomputing a grid of {len(self._grid)} maps, about "
                     f"{len(self._grid) * bytes_per_map / 2**20:.1f} MB")
        for layer, method, targets in jobs:
            self._worker.submit(PRECOMPUTE, layer, method, targets)

    def _methods_current_first(self) -> list[str]:
        return [self.method, *(m for m in self.methods if m != self.method)]

    def _top_targets(self, layer: str) -> tuple[int, ...]:
        return tuple(int(index) for index, _ in self.targets[layer][: self.top_k])

    # --- validation: the front end and Python alike --------------------------------------

    @traitlets.validate("method")
    def _valid_method(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        if self.methods and value not in self.methods:
            raise traitlets.TraitError(f"method must be one of {self.methods}; got {value!r}")
        return str(value)

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        if self._ready and value not in self.targets:
            names = [entry["name"] for entry in self.layers]
            raise traitlets.TraitError(f"layer must be one of {names}; got {value!r}")
        return str(value)

    @traitlets.validate("target")
    def _valid_target(self, proposal: dict[str, Any]) -> int:
        value = proposal["value"]
        if self._ready:
            count = len(self.targets.get(self.layer, []))
            if not 0 <= value < count:
                what = "class" if self.layer == OUTPUT else f"channel of {self.layer!r}"
                raise traitlets.TraitError(f"target must be a {what} in [0, {count}); got {value}")
        return int(value)

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Updates from the front end: rejected whole, and shown, when anything is invalid;
        the front end is then sent the valid state back."""
        forbidden = sorted(set(sync_data) - FRONTEND_WRITABLE)
        try:
            if forbidden:
                raise traitlets.TraitError(f"the front end may not set {forbidden}")
            super().set_state(sync_data)
        except (traitlets.TraitError, TypeError, ValueError) as exc:
            self.status = f"error: {exc}"
            self.send_state([key for key in sync_data if key in self.keys])

    def _on_custom_message(self, widget: Any, content: Any, buffers: list[Any]) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "sync":
            with self._maps_lock:
                self.send_state("maps")
            self.send({"type": "synced"})  # tells the view that a kernel is there
            return
        try:
            if kind == "stroke":
                self._stroke(content, buffers)
            elif kind == "undo":
                self.undo()
            elif kind == "reset":
                self.reset()
            elif kind == "cancel":
                self.cancel()
            elif kind == "attack":
                self.attack(**{key: content.get(key, default) for key, default in (
                    ("method", None), ("eps", None), ("steps", 1), ("target", None),
                    ("masked", False))})
            else:
                self.status = f"error: unknown message from the front end: {str(content)[:80]}"
        except (ValueError, TypeError) as exc:
            self.status = f"error: {exc}"

    # --- requests ------------------------------------------------------------------------

    @traitlets.observe("layer")
    def _layer_changed(self, change: dict[str, Any]) -> None:
        """A new layer starts at its best target; its top-k are precomputed."""
        if not self._ready:
            return
        self.target = self.targets[self.layer][0][0]
        if self.layer != OUTPUT:
            for method in self._methods_current_first():
                self._worker.submit(PRECOMPUTE, self.layer, method, self._top_targets(self.layer))
        self._request_view()

    @traitlets.observe("method", "target")
    def _choice_changed(self, change: dict[str, Any]) -> None:
        if self._ready:
            self._request_view()
            if self.perturbed:
                self._show_similarity()

    def _request_view(self) -> None:
        """Queue, ahead of everything else, the maps the view shows now: the chosen method
        first, then the other methods of the compare row."""
        self._view_requests += 1
        keys = [(m, map_key(self.layer, self.target, m)) for m in self._methods_current_first()]
        missing = [m for m, key in keys if key not in self._cache
                   or (self.perturbed and CLEAN + key not in self._cache)]
        if self.status.startswith("error") or missing:
            self.status = "computing" if missing else "idle"
        for method in missing:
            self._worker.submit(VIEW, self.layer, method, (self.target,), self._view_requests)

    # --- the worker's side ---------------------------------------------------------------

    def _compute(self, layer: str, method: str, targets: Sequence[int],
                 x: torch.Tensor | None = None, prefix: str = "",
                 raw: dict[int, torch.Tensor] | None = None) -> dict[str, RenderedMap]:
        """Rendered maps of ``x`` (the current input when None) under ``prefix + key``;
        ``raw`` receives the maps themselves by target."""
        maps = attribute(self._spec, self._x if x is None else x, method, list(targets),
                         layer=None if layer == OUTPUT else layer)
        if layer == OUTPUT and len(targets) > 1 and not prefix:
            self._sensitivity[method] = class_sensitivity(maps)
        if raw is not None:
            raw.update(zip(targets, maps, strict=True))
        encoding, quality = self._encoding
        return {prefix + map_key(layer, t, method): render_map(m, method, None, encoding, quality)
                for t, m in zip(targets, maps, strict=True)}

    def _run_job(self, job: Job) -> None:
        batch = job.priority == PRECOMPUTE
        x, clean = self._x, self._clean_x
        compare = x is not clean  # a perturbed input: its maps are compared with the clean ones
        todo = [t for t in job.targets if map_key(job.layer, t, job.method) not in self._cache
                or (compare and CLEAN + map_key(job.layer, t, job.method) not in self._cache)]
        if not todo:
            return
        # A precomputed batch is redone whole: the class-sensitivity statistic needs all of it.
        targets = job.targets if batch else todo
        perturbed: dict[int, torch.Tensor] = {}
        rendered = self._compute(job.layer, job.method, targets, x, raw=perturbed)
        if compare:
            originals: dict[int, torch.Tensor] = {}
            rendered.update(self._compute(job.layer, job.method, targets, clean, CLEAN,
                                          originals))
            absolute = convention_for(job.method) == ABS_GREY
            similarities = {map_key(job.layer, t, job.method):
                            ssim(originals[t], perturbed[t], absolute) for t in targets}
        if self._worker.is_current(job):
            if compare:
                self._similarities.update(similarities)
            self._publish(rendered, job.generation, notify=True)
            if compare:
                self._show_similarity()
            if batch and job.layer == OUTPUT:
                self.sensitivity = dict(self._sensitivity)

    def _show_similarity(self) -> None:
        """``similarity``: each method's clean vs perturbed map at the current layer/target."""
        found = {method: self._similarities.get(map_key(self.layer, self.target, method))
                 for method in self.methods}
        self.similarity = {m: value for m, value in found.items() if value is not None}

    def _publish(self, rendered: dict[str, RenderedMap], generation: int, notify: bool) -> None:
        """Cache new maps, mirror them in ``maps``, and (``notify``) send them at once."""
        with self._maps_lock:
            evicted: list[str] = []
            for key, entry in rendered.items():
                evicted += self._cache.put(key, entry, pinned=key in self._grid)
                self.maps[key] = {"image": entry.image, "mime": entry.mime,
                                  "scale": entry.scale, "convention": entry.convention}
            for key in evicted:
                self.maps.pop(key, None)
            if not notify:
                self.send_state("maps")
                return
            kept = [key for key in rendered if key not in evicted]
            added = [{"key": key, "mime": rendered[key].mime, "scale": rendered[key].scale,
                      "convention": rendered[key].convention} for key in kept]
            buffers = [rendered[key].image for key in kept]
        self.send({"type": "maps", "generation": generation, "add": added, "remove": evicted},
                  buffers=buffers)

    def _on_worker_state(self, busy: bool, done: int, total: int) -> None:
        self.progress = done / total if total else 1.0
        if busy:
            if not self.status.startswith("error"):
                self.status = "computing"
            return
        with self._maps_lock:
            self.send_state("maps")  # the whole set, for saved notebooks and late front ends
        if not self.status.startswith("error"):
            self.status = "idle"

    def _on_worker_error(self, exc: BaseException) -> None:
        self.status = f"error: {type(exc).__name__}: {exc}"


GRID_KEYS = frozenset({"methods", "layers", "targets"})

#: One batch of a precomputed grid: (layer, method, targets).
GridJob = tuple[str, str, tuple[int, ...]]


def _check_grid(
    precompute: bool | Mapping[str, Any] | None, methods: Sequence[str]
) -> dict[str, Any] | None:
    """``precompute`` as a full grid spec (see ``Explorer``), or None; bad specs named."""
    if precompute is None or precompute is False:
        return None
    grid: dict[str, Any] = {"methods": list(methods), "layers": [OUTPUT], "targets": None}
    if precompute is True:
        return grid
    if not isinstance(precompute, Mapping):
        raise TypeError(f"precompute must be True, None or a dict with keys {sorted(GRID_KEYS)}; "
                        f"got {type(precompute).__name__}")
    unknown = sorted(set(precompute) - GRID_KEYS)
    if unknown:
        raise ValueError(f"precompute has unknown keys {unknown}; expected {sorted(GRID_KEYS)}")
    grid.update(precompute)
    bad = [m for m in grid["methods"] if m not in methods]
    if bad:
        raise ValueError(f"precompute methods must be among {list(methods)}; got {bad}")
    layers, targets = grid["layers"], grid["targets"]
    if layers != "all" and (isinstance(layers, str) or not isinstance(layers, Sequence)):
        raise TypeError(f'precompute layers must be a list of names or "all"; got {layers!r}')
    if targets is not None and not isinstance(targets, int) and not (
        isinstance(targets, Sequence) and all(isinstance(t, int) for t in targets)
    ):
        raise TypeError(f"precompute targets must be an int k or a list of ints; got {targets!r}")
    return grid


def _grid_jobs(
    grid: Mapping[str, Any], ranked: Mapping[str, list[list[float]]], top_k: int
) -> list[GridJob]:
    """(layer, method, targets) batches covering ``grid`` for the current image."""
    layers = list(ranked) if grid["layers"] == "all" else list(grid["layers"])
    unknown = [name for name in layers if name not in ranked]
    if unknown:
        raise ValueError(f"precompute layers {unknown} are not layers of this model; "
                         f"choose among {list(ranked)}")
    jobs = []
    for layer in layers:
        wanted = grid["targets"]
        if wanted is None or isinstance(wanted, int):
            k = top_k if wanted is None else wanted
            targets = tuple(int(index) for index, _ in ranked[layer][:k])
        else:
            count = len(ranked[layer])
            targets = tuple(t for t in wanted if 0 <= t < count)
        jobs += [(layer, method, targets) for method in grid["methods"] if targets]
    return jobs


def _ranked(scores: torch.Tensor) -> list[list[float]]:
    """``[[index, score], …]``, best first; indices as ints for the front end. Scores keep 4
    significant digits: enough to show and to rank by, and a third of the synced bytes (a
    VGG-16 has thousands of channels, every one of them in every saved page)."""
    values, order = scores.detach().double().sort(descending=True)
    return [[int(i), float(f"{v:.4g}")]
            for i, v in zip(order.tolist(), values.tolist(), strict=True)]
