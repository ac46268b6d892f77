"""The experiments of Nie, Zhang & Patel (ICML 2018), one function each, and the claims
they check.

Each experiment takes any model and pictures (the paper's setting when omitted), and returns
an :class:`ExperimentResult`: the maps, the metrics, the claims (holds or fails, as
measured) and a figure. The trained-network experiments run on the shapes CNN
(``class_sensitivity``, ``adversarial``, ``partial_training``) and on EfficientNet-Lite0 with
the sample photos (``imagenet.class_sensitivity``, …). ``reproduce`` runs them all and writes
the report.
"""

from . import imagenet
from .claims import Claim
from .inputs import FULL, QUICK, Budget
from .recovery import depth, fcn, filters, max_pool, measure_recovery, random_cnn, random_vgg
from .reproduce import EXPERIMENTS, claims_table, reproduce
from .results import ExperimentResult, PictureGrid
from .shapes import adversarial, class_sensitivity, partial_training
from .trained import similarity

__all__ = [
    "EXPERIMENTS",
    "FULL",
    "QUICK",
    "Budget",
    "Claim",
    "ExperimentResult",
    "PictureGrid",
    "adversarial",
    "claims_table",
    "class_sensitivity",
    "depth",
    "fcn",
    "filters",
    "imagenet",
    "max_pool",
    "measure_recovery",
    "partial_training",
    "random_cnn",
    "random_vgg",
    "reproduce",
    "similarity",
]
