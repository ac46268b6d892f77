"""Networks to look into, each as a ``LensModel`` (module + preprocessing + classes + layers).

``load(name)`` / ``available()`` for the zoo (``load("efficientnet_lite0")``: a trained
ImageNet network that works offline); the paper's random networks (``paper_cnn``,
``paper_fcn``, ``vgg16``); torchvision's ``vgg16`` / ``resnet18`` with a local weight file;
``torchvision_model(name, weights=...)`` for any torchvision classifier and its named weights;
``randomize`` for weight-randomisation experiments; ``as_lens_model`` for any ``nn.Module``.
"""

from .classes import imagenet_classes
from .efficientnet import efficientnet_lite0
from .imagenet import resnet18, vgg16
from .lens_model import IMAGENET_MEAN, IMAGENET_STD, LensModel, as_lens_model
from .paper import PAPER_MEAN, paper_cnn, paper_fcn
from .randomize import MODES, randomize, randomized_layers
from .shapes_nets import SHAPES_MODELS, weight_record
from .torchvision_models import classification_models, torchvision_model
from .zoo import available, load

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MODES",
    "PAPER_MEAN",
    "SHAPES_MODELS",
    "LensModel",
    "as_lens_model",
    "available",
    "classification_models",
    "efficientnet_lite0",
    "imagenet_classes",
    "load",
    "paper_cnn",
    "paper_fcn",
    "randomize",
    "randomized_layers",
    "resnet18",
    "torchvision_model",
    "vgg16",
    "weight_record",
]
