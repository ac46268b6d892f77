"""The Explorer's weights control: the sanity check of Adebayo et al. (NeurIPS 2018) as a slider.

The ``weights`` trait names a level of cascading randomisation: ``"trained"``, or a layer with
parameters, meaning that every layer from the output down to it (inclusive) is re-drawn
(``models.randomize(spec, "cascade", layer)``). The levels (``weight_levels``) go down the
network one unit at a time: a unit is a top-level module, or one numbered child of a container
(``_blocks.3``, ``features.10``), so EfficientNet-Lite0 has 22 levels (its head, 16 blocks,
stem), VGG-16 17 and the shapes CNN 6. The last level re-draws every layer.

The randomised models are copies (``randomize`` deep-copies the module): the user's model is
never touched. A map at a level is keyed like any map with a ``weights=<level>/`` prefix
(``weights_key``), so maps of every level live in the same cache and the same synced state, and a
page that holds them scrubs the slider without a kernel.

Per method, each level's map is compared with the trained model's map of the same layer and
target: SSIM and Spearman rank correlation (``metrics.ssim``, ``metrics.rank_correlation``, on
|map| for methods shown as |map|), the curves of the ``weights_similarity`` trait,
``{method: {"ssim": [...], "spearman": [...]}}``, one value per level (``None`` until computed;
the trained level is 1 by definition). The curves are computed level by level at the lowest
priority once the slider first leaves ``"trained"``, or when ``precompute()`` asks.

Threads: the worker writes these traits while the kernel's thread may be loading a new input
(inside the widget's ``hold_sync``: ipywidgets' held state is per widget, not per thread, so a
write from another thread then may never be sent) or starting new curves. So each write (a
check of the input's generation, then the trait, made whole) happens under one lock that
``reset`` and ``precompute`` take too: results of work queued for a former input are dropped,
never written over the new input's, and no write undoes another. The prediction of the level
shown is the view job's first result and does not wait for the maps (it depends on the level
and the input only, so a move of the layer or target leaves it wanted).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Protocol

import torch
import traitlets

from ..models import LensModel, randomize
from ..render import ABS_GREY, RenderedMap, convention_for
from .compute import compute_maps
from .scheduler import PRECOMPUTE, VIEW

#: The ``weights`` value of the model as given.
TRAINED = "trained"
#: The prefix of the keys of maps computed at a randomisation level.
WEIGHTS_PREFIX = "weights="
#: How many randomised copies are kept (each a full copy of the model's parameters).
KEPT_TWINS = 3
#: The methods whose maps take many passes: computed after the others at every level.
SLOW_METHODS = frozenset({"smoothgrad", "integrated_gradients"})
#: The seed of the re-drawn weights (the same weights every time; not 0, the seed the zoo's
#: random models are built with, whose weights it would draw again).
SEED = 2018

_NUMBERED = re.compile(r"^(.*?\.\d+)(\.|$)")


def unit_of(layer: str) -> str:
    """The unit a layer belongs to: up to its first numbered component (``_blocks.3._bn1`` →
    ``_blocks.3``), else its first component (``classifier`` for ``classifier``)."""
    found = _NUMBERED.match(layer)
    return found.group(1) if found else layer.split(".")[0]


def weight_levels(spec: LensModel) -> list[dict[str, str]]:
    """The ``weight_levels`` trait: ``[{"name", "label"}]``, ``"trained"`` first, then one level
    per unit from the top down; a level's name is the first layer with parameters of its unit
    (the cascade re-draws from the output down to it)."""
    firsts: dict[str, str] = {}
    for layer in spec.parameter_layers:
        firsts.setdefault(unit_of(layer), layer)
    names = list(firsts.values())[::-1]
    levels = [{"name": TRAINED, "label": "trained"}]
    for i, name in enumerate(names):
        unit = unit_of(name)
        label = ("all layers re-drawn" if i == len(names) - 1
                 else f"re-drawn: {unit}" if i == 0 else f"re-drawn: top … {unit}")
        levels.append({"name": name, "label": label})
    return levels


def weights_key(level: str, key: str) -> str:
    """The map key ``key`` (``"layer/target/method"``) at randomisation ``level``."""
    return key if level == TRAINED else f"{WEIGHTS_PREFIX}{level}/{key}"


def compare(trained: torch.Tensor, randomised: torch.Tensor, method: str) -> tuple[float, float]:
    """(SSIM, Spearman ρ) of a randomised model's map against the trained model's, compared as
    shown (|map| for methods shown as |map|)."""
    from ..metrics import rank_correlation, ssim

    absolute = convention_for(method) == ABS_GREY
    return ssim(trained, randomised, absolute), rank_correlation(trained, randomised, absolute)


class WeightsTraits(traitlets.HasTraits):
    """The Explorer's synced traits of the weights control (a mixin: ``Explorer`` sets
    ``_weights``): the level shown, the levels, per method the curves, and the randomised
    model's top-5 classes by level (``{level: [[index, probability], ...]}``, best first;
    every level computed is kept, so that a page shows them too)."""

    weights = traitlets.Unicode(TRAINED).tag(sync=True)
    weight_levels = traitlets.List(traitlets.Dict()).tag(sync=True)
    weights_similarity = traitlets.Dict().tag(sync=True)
    weights_top = traitlets.Dict().tag(sync=True)
    _weights: WeightsControl

    @traitlets.validate("weights")
    def _valid_weights(self, proposal: dict[str, Any]) -> str:
        try:
            return self._weights.check(proposal["value"])
        except ValueError as exc:
            raise traitlets.TraitError(str(exc)) from None

    def precompute_weights(self, methods: Sequence[str] | None = None) -> None:
        """Queue the maps of every randomisation level (``weights``) at the current layer and
        target, kept whole so that a saved or published page scrubs the weights slider, and
        the similarity curves (``WeightsControl.precompute``)."""
        self._weights.precompute(methods)


class WeightsHost(Protocol):
    """What the control needs of its Explorer (named here so that it need not import it)."""

    weights: str
    weight_levels: list[dict[str, str]]
    weights_similarity: dict[str, Any]
    weights_top: dict[str, list[list[float]]]
    completeness: dict[str, Any]
    methods: list[str]
    method: str
    layer: str
    target: int


class WeightsControl:
    """The randomised twins of one Explorer's model, the jobs that compute maps at a level, and
    the similarity curves.

    ``submit(task, priority)`` queues work on the Explorer's worker; ``publish(rendered)`` caches
    and sends maps (keys already prefixed); ``current()`` gives (model, input, encoding, worker
    generation) as they are now.
    """

    def __init__(self, host: WeightsHost, submit: Callable[[Callable[[], None], int], None],
                 publish: Callable[[Mapping[str, RenderedMap], set[str]], None],
                 current: Callable[[], tuple[LensModel, torch.Tensor, tuple[str, int], int]]
                 ) -> None:
        self._host = host
        self._submit = submit
        self._publish = publish
        self._current = current
        self._lock = threading.Lock()
        # Held while a trait of the control is computed and written (either thread), so that
        # writes never interleave; re-entrant, as writing a trait runs observers.
        self._writing = threading.RLock()
        self._tops: dict[str, list[list[float]]] = {}  # weights_top of this input
        self._twins: OrderedDict[str, LensModel] = OrderedDict()
        self._trained: dict[tuple[str, int, str], torch.Tensor] = {}
        self._curves_for: tuple[str, int] | None = None
        self.pinned: set[str] = set()

    def reset(self, spec: LensModel | None = None) -> None:
        """Forget every map and curve (a new input); ``spec``: a new model, whose levels these
        are (the slider goes back to trained)."""
        with self._writing:
            with self._lock:
                self._trained.clear()
                self._curves_for = None
                self.pinned = set()
                self._tops = {}
                if spec is not None:
                    self._twins.clear()
            host = self._host
            if spec is not None:
                host.weight_levels = weight_levels(spec)
                host.weights = TRAINED
            host.weights_similarity = {}
            host.weights_top = {}

    def check(self, value: object) -> str:
        """``value`` if it names a level, else a ``ValueError`` naming the levels."""
        names = [level["name"] for level in self._host.weight_levels]
        if not isinstance(value, str) or (names and value not in names):
            raise ValueError(f"weights must be one of {names}; got {value!r}")
        return value

    def twin(self, level: str) -> LensModel:
        """The model with the cascade re-drawn down to ``level`` (a copy; the same seed every
        time), the model itself for ``"trained"``."""
        spec = self._current()[0]
        if level == TRAINED:
            return spec
        with self._lock:
            found = self._twins.get(level)
            if found is not None:
                self._twins.move_to_end(level)
                return found
        made = randomize(spec, "cascade", level, seed=SEED)
        with self._lock:
            if self._current()[0] is spec:  # not a twin of a model replaced meanwhile
                self._twins[level] = made
                while len(self._twins) > KEPT_TWINS:
                    self._twins.popitem(last=False)
        return made

    # --- requests ------------------------------------------------------------------------

    def request_view(self) -> None:
        """Queue the maps and predictions the view shows at the current level, ahead of the
        precomputation; the curves too, the first time the slider leaves ``"trained"``."""
        host = self._host
        level = host.weights
        if level == TRAINED:
            return
        layer, target = host.layer, host.target
        methods = [host.method, *(m for m in host.methods if m != host.method)]
        generation = self._current()[3]

        def view() -> None:
            if host.weights != level:
                return  # the user moved the slider on before this started
            self._predict(level, generation)
            if (host.layer, host.target) == (layer, target):  # else a newer request has them
                self._level_maps(level, layer, target, methods, False, generation)

        self._submit(view, VIEW)
        if self._curves_for != (layer, target):
            self.precompute()

    def precompute(self, methods: Sequence[str] | None = None) -> None:
        """Queue every level's maps of the current layer and target for ``methods`` (all shown
        when None), pinned so that a saved or published page keeps them, and the similarity
        curves; level by level, top first, the slow methods last, at the lowest priority; the work
        queued for former curves is dropped when it comes up."""
        host = self._host
        layer, target = host.layer, host.target
        chosen = list(host.methods if methods is None else methods)
        unknown = sorted(set(chosen) - set(host.methods))
        if unknown:
            raise ValueError(f"methods must be among the Explorer's {host.methods}; "
                             f"got {unknown}")
        generation = self._current()[3]
        levels = [entry["name"] for entry in host.weight_levels]
        with self._writing:
            self._curves_for = (layer, target)
            host.weights_similarity = {m: {"ssim": [1.0] + [None] * (len(levels) - 1),
                                           "spearman": [1.0] + [None] * (len(levels) - 1)}
                                       for m in chosen}
        # One map per task: a view request never waits behind more than one map.
        for group in ([m for m in chosen if m not in SLOW_METHODS],
                      [m for m in chosen if m in SLOW_METHODS]):
            for level in levels:
                for method in group:
                    self._submit(partial(self._level_maps, level, layer, target, [method], True,
                                         generation), PRECOMPUTE)

    # --- the worker's side ---------------------------------------------------------------

    def _current_input(self, generation: int) -> bool:
        """Whether work queued at ``generation`` is still for the input shown."""
        return self._current()[3] == generation

    def _predict(self, level: str, generation: int) -> None:
        """Put the randomised model's top-5 classes at ``level`` on ``weights_top`` (once per
        input)."""
        if level == TRAINED or level in self._tops:
            return
        _, x, _, _ = self._current()
        with torch.no_grad():
            scores = self.twin(level).module(x).float()
        top = torch.softmax(scores, dim=-1)[0].topk(min(5, scores.shape[-1]))
        with self._writing:
            if not self._current_input(generation):
                return  # a new input came meanwhile (``reset``)
            self._tops[level] = [[int(i), float(p)] for p, i in zip(*top, strict=True)]
            self._host.weights_top = dict(self._tops)

    def _level_maps(self, level: str, layer: str, target: int, methods: Sequence[str],
                    pin: bool, generation: int) -> None:
        """Compute, publish and compare the maps of ``methods`` at ``level`` (on the worker),
        and the level's prediction; precomputation (``pin``) for curves that a newer
        ``precompute`` replaced is dropped, and so is all work for a former input."""
        if (pin and self._curves_for != (layer, target)) or not self._current_input(generation):
            return
        self._predict(level, generation)
        _, x, encoding, _ = self._current()
        model = self.twin(level)
        host = self._host
        for method in methods:
            found = compute_maps(model, x, layer, method, [target], encoding)
            rendered = {weights_key(level, key): entry for key, entry in found.rendered.items()}
            with self._writing:
                if not self._current_input(generation):
                    return
                if pin:
                    self.pinned.update(rendered)
                if found.completeness:
                    host.completeness = {**host.completeness,
                                         **{weights_key(level, key): value
                                            for key, value in found.completeness.items()}}
            self._publish(rendered, self.pinned)
            assert found.maps is not None
            self._record(level, layer, target, method, found.maps[0], generation)

    def _record(self, level: str, layer: str, target: int, method: str,
                values: torch.Tensor, generation: int) -> None:
        """Keep the trained map; put a level's SSIM and ρ on its method's curves."""
        if level == TRAINED:
            with self._writing:
                if self._current_input(generation):
                    self._trained[(layer, target, method)] = values
            return
        host = self._host
        if self._curves_for != (layer, target) or method not in host.weights_similarity:
            return
        trained = self._trained.get((layer, target, method))
        if trained is None:  # computed first at every priority, but not if the job was dropped
            spec, x, encoding, _ = self._current()
            found = compute_maps(spec, x, layer, method, [target], encoding).maps
            assert found is not None
            trained = found[0]
        names = [entry["name"] for entry in host.weight_levels]
        position = names.index(level)
        ssim_value, rho = compare(trained, values, method)
        with self._writing:  # the curves as they are now, not as they were before the compare
            if self._curves_for != (layer, target) or not self._current_input(generation):
                return  # replaced by a newer ``precompute`` or ``reset`` meanwhile
            self._trained.setdefault((layer, target, method), trained)
            updated = {m: {k: list(v) for k, v in c.items()}
                       for m, c in host.weights_similarity.items()}
            if method not in updated:
                return
            updated[method]["ssim"][position] = ssim_value
            updated[method]["spearman"][position] = rho
            host.weights_similarity = updated
