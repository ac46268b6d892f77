"""Dataset-scale statistics: the paper's measurements over many images, models and methods.

``stats.run(models, images, methods, targets, out)`` computes one row per (image, model,
method) — image recovery, class sensitivity, localisation, and optionally stability under
cascading randomisation and PGD — streams the rows to a Parquet folder that a later run
resumes, and summarises them per model × method with bootstrap intervals. ``engine="local"``
runs in this process; ``engine="ray"`` on a Ray cluster (``pip install 'backprop-lens[ray]'``).

Modules: ``sources`` (where images come from), ``settings``, ``batched`` (N images × K targets
per forward pass), ``compute`` (the per-chunk work both engines share), ``output`` (the
resumable Parquet folder), ``summary``, ``local`` and ``ray_engine`` (the engines), ``run``.
"""

from .compute import SCHEMA
from .output import read
from .run import ENGINES, StatsResult, run
from .settings import METRICS, Settings
from .sources import open_source
from .summary import Summary, summarize

__all__ = ["ENGINES", "METRICS", "SCHEMA", "Settings", "StatsResult", "Summary", "open_source",
           "read", "run", "summarize"]
