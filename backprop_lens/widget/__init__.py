"""The notebook widget, one concept per module:

- ``explorer``: the ``Explorer`` widget — its synced traits, their validation, and the wiring
  to the worker;
- ``choices``: the user's choices (method, target, layer, shared scale) and their validation;
- ``perturb_commands``: the perturbation traits and commands (strokes, undo, reset, attacks);
- ``scheduler``: the worker thread (prioritised jobs, generations) and the bounded map cache;
- ``view_queue``: which maps the worker computes next for the view (slider moves, their
  ``view`` messages);
- ``compute``: what the worker computes for one job (maps rendered, clean vs perturbed);
- ``maps``: the maps of the current input — cache, ``maps`` trait, messages to the front end;
- ``keys``: how maps are named (``"layer/target/method"``, the output layer, clean maps);
- ``grid``: the precomputed grid (``precompute=``), kept whole for pages without a kernel;
- ``rankings``: what the sliders scrub — targets ranked best first, the layers offered;
- ``perturbation``: the perturbation session — clean input, perturbation, painted region, undo;
- ``perturb``: checking the front end's stroke and attack messages, painting a stroke;
- ``attacks``: attack runs on the worker — progress, cancel, results applied;
- ``charts``: the bqplot charts beside the Explorer, linked to its traits;
- ``defaults``: the default model and picture;
- ``frontend``: the built front-end files;
- ``export`` and ``publish``: static pages of Explorers.
"""

from .explorer import Explorer
from .keys import OUTPUT

__all__ = ["OUTPUT", "Explorer"]
