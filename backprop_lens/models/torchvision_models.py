"""Any torchvision classification network, with its weights given the way torchvision users do.

``torchvision_model(name, weights=...)`` takes ``weights`` as

- a torchvision weights name (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``"IMAGENET1K_V2"``, …) or
  member (``ResNet50_Weights.IMAGENET1K_V2``): loaded through torchvision's own weights API,
  so from torch's cache folder (``torch.hub.get_dir()/checkpoints``) when the file is there,
  downloaded into it by torchvision when the machine is online. Before torchvision is asked
  to download, one short request (``connect_timeout`` seconds) checks that the file's server
  answers; when it does not, a ``FileNotFoundError`` says which file to get, from which URL,
  and where to put it — within seconds, instead of a download that hangs or fails deep
  inside urllib.
- a path to a state dict file with torchvision's parameter names (see
  ``models.state_dicts``); read with ``weights_only=True``.
- ``"random"``: torchvision's own initialisation, drawn under ``seed`` (the caller's random
  state is restored).

The preprocessing (input size, mean, std) and class names come from the weights' metadata in
torchvision's wheel (for ``"random"`` and files, from the model's ``DEFAULT`` weights).
``LensModel.preprocess`` scales to cover the crop size and centre-crops; torchvision's own
resize-then-crop (e.g. 256 → 224) is not repeated.
"""

from __future__ import annotations

import difflib
import os
import threading
import urllib.request
from pathlib import Path
from typing import Any, TypeAlias

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum

from .classes import imagenet_classes
from .lens_model import IMAGENET_MEAN, IMAGENET_STD, LensModel
from .state_dicts import cached_weight_path, load_weights

TorchvisionWeights: TypeAlias = str | os.PathLike[str] | WeightsEnum


def classification_models() -> list[str]:
    """The names ``torchvision_model`` accepts: torchvision's classification models."""
    return list(torchvision.models.list_models(module=torchvision.models))


def torchvision_model(
    name: str,
    weights: TorchvisionWeights = "DEFAULT",
    seed: int = 0,
    connect_timeout: float = 3.0,
    **options: Any,
) -> LensModel:
    """torchvision's classification model ``name`` with ``weights``, as a ``LensModel``.

    Args:
        name: one of :func:`classification_models` (``"resnet50"``, ``"vit_b_16"``, …).
        weights: a weights name or member, a state dict file, or ``"random"`` (module doc).
        seed: for ``"random"`` only.
        connect_timeout: seconds to wait for the weights' server before giving up, when a
            named weight file is not in torch's cache.
        options: passed to torchvision's builder (e.g. ``num_classes=10`` for a file of a
            fine-tuned network).

    Raises:
        ValueError: an unknown ``name`` or weights name, or a file that does not fit.
        FileNotFoundError: named weights neither cached nor downloadable; a missing file.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str naming a torchvision classification model; got "
                        f"{type(name).__name__}")
    if name not in classification_models():
        close = difflib.get_close_matches(name, classification_models(), n=3)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise ValueError(f"name must be a torchvision classification model, one of "
                         f"models.classification_models(); got {name!r}{hint}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int; got {type(seed).__name__}")
    named = _named_weights(name, weights)
    with torch.random.fork_rng(devices=[]):  # builders draw from the global random state
        torch.manual_seed(seed)
        if named is not None:
            _ensure_available(name, named, connect_timeout)
            module = torchvision.models.get_model(name, weights=named, **options)
            description = f"{name} with torchvision's {_full_name(named)} weights"
        else:
            module = torchvision.models.get_model(name, weights=None, **options)
            if weights == "random":
                description = f"{name} with torchvision's random initialisation, seed {seed}"
            else:
                path = _existing_file(name, weights)
                load_weights(module, path, f"torchvision {name}")
                description = f"{name} with weights from {path}"
    n_outputs = len(named.meta["categories"]) if named else int(options.get("num_classes", 1000))
    spec_name = f"{name}_random" if weights == "random" else name
    return _lens_model(spec_name, module.eval(), named or _default_weights(name), n_outputs,
                       description)


def _named_weights(name: str, weights: object) -> WeightsEnum | None:
    """The torchvision weights ``weights`` names, or None for ``"random"`` and files."""
    enum = torchvision.models.get_model_weights(name)
    if isinstance(weights, WeightsEnum):
        if not isinstance(weights, enum):
            raise ValueError(f"weights {_full_name(weights)} are not weights of {name!r}; "
                             f"use one of {[_full_name(w) for w in enum]}")
        return weights
    if isinstance(weights, os.PathLike) or weights == "random":
        return None
    if not isinstance(weights, str):
        raise TypeError('weights must be a torchvision weights name ("DEFAULT", '
                        '"IMAGENET1K_V1", …), a path to a state dict file, or "random"; got '
                        f"{type(weights).__name__}")
    if weights == "DEFAULT":
        return enum.DEFAULT
    if weights in enum.__members__:
        return enum[weights]
    if weights.isidentifier() and weights.upper() == weights:  # a name, but not one of these
        raise ValueError(f"weights must be one of {['DEFAULT', *enum.__members__]} for "
                         f"{name!r}, a path to a state dict file, or 'random'; got {weights!r}")
    return None  # a path


def _full_name(weights: WeightsEnum) -> str:
    return f"{type(weights).__name__}.{weights.name}"


def _ensure_available(name: str, weights: WeightsEnum, timeout: float) -> None:
    """Return when torchvision can load ``weights``: cached, or its server answers."""
    cached = cached_weight_path(weights.url)
    if cached.is_file():
        return
    reason = _unreachable(weights.url, timeout)
    if reason is None:
        return
    filename = Path(weights.url).name
    raise FileNotFoundError(
        f"torchvision's weights {_full_name(weights)} for {name!r} are not on this machine, "
        f"and they could not be downloaded ({reason}). Get the file {filename} from "
        f"{weights.url} (or from ~/.cache/torch/hub/checkpoints/ on a machine where "
        f"torchvision.models.get_model({name!r}, weights={weights.name!r}) has run) and put "
        f"it at {str(cached)!r} (torch's cache folder, $TORCH_HOME/hub/checkpoints), or pass "
        f"its path: models.torchvision_model({name!r}, weights='/path/to/{filename}')."
    )


def _unreachable(url: str, timeout: float) -> str | None:
    """None when ``url`` answers a HEAD request within ``timeout`` s, else why it did not.

    The request runs on a daemon thread that is abandoned after the timeout: urllib's own
    timeout does not cover the DNS lookup, which can hang far longer on a machine without
    network.
    """
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout):
                outcome.append(None)
        except BaseException as error:  # any failure means: not reachable now
            outcome.append(f"{type(error).__name__}: {error}")

    thread = threading.Thread(target=probe, name="backprop-lens weights probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return outcome[0] if outcome else f"no answer from the server within {timeout:g} s"


def _existing_file(name: str, weights: object) -> Path:
    path = Path(weights)  # type: ignore[arg-type]  # str or PathLike, checked by the caller
    if not path.is_file():
        raise FileNotFoundError(f"weight file for {name!r} not found: {str(path)!r} (weights "
                                "must be a torchvision weights name, an existing state dict "
                                "file, or 'random')")
    return path


def _lens_model(name: str, module: nn.Module, meta_source: WeightsEnum | None,
                n_outputs: int, description: str) -> LensModel:
    """The ``LensModel``, with size, mean, std and class names from ``meta_source``'s
    metadata (ImageNet's defaults for a model torchvision has no weights for)."""
    size, mean, std, categories = 224, IMAGENET_MEAN, IMAGENET_STD, imagenet_classes()
    if meta_source is not None:
        transforms = meta_source.transforms()
        size = int(transforms.crop_size[0])
        mean, std = tuple(transforms.mean), tuple(transforms.std)
        categories = list(meta_source.meta["categories"])
    classes = categories if n_outputs == len(categories) else [str(i) for i in range(n_outputs)]
    return LensModel(module, classes, (size, size), mean, std, 1.0, name=name,
                     description=description)


def _default_weights(name: str) -> WeightsEnum | None:
    return getattr(torchvision.models.get_model_weights(name), "DEFAULT", None)
