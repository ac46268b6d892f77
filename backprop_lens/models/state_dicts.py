"""Weight files: where torchvision keeps them, and reading them safely into a module.

A state dict is read either from a ``.safetensors`` file or from a file saved by ``torch.save``
(``.pth``/``.pt``), the latter with ``weights_only=True``, so a file can hold tensors but never
code. A mapping wrapped as ``{"state_dict": …}`` or ``{"model": …}`` (as training scripts often
save it) is unwrapped. Every error names the file and what was wrong with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn


def cached_weight_path(url: str) -> Path:
    """Where torchvision keeps the weight file of ``url`` once downloaded:
    ``torch.hub.get_dir()/checkpoints/<file name>`` (``$TORCH_HOME/hub`` when that is set)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    """The tensors of the state dict file ``path``, on the CPU.

    Raises:
        ValueError: the file is not a state dict (or holds pickled objects, refused by
            ``weights_only``).
    """
    if path.suffix == ".safetensors":
        return load_file(str(path), device="cpu")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors come in many types
        raise ValueError(f"could not read {str(path)!r} as a torch state dict "
                         f"(weights_only=True): {error}") from None
    if isinstance(loaded, Mapping):
        for key in ("state_dict", "model"):
            inner = loaded.get(key)
            if isinstance(inner, Mapping):
                loaded = inner
                break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise ValueError(f"{str(path)!r} does not hold a state dict (a mapping of names to "
                         "tensors)")
    return loaded


def load_weights(module: nn.Module, path: Path, what: str) -> None:
    """Fill every parameter and buffer of ``module`` from the file ``path``, in place.

    ``what`` names the network in errors (``"torchvision VGG-16"``).

    Raises:
        ValueError: the file does not hold exactly the module's tensors, with their shapes.
    """
    state = read_state_dict(path)
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as error:  # a tensor of the wrong shape
        raise ValueError(f"{str(path)!r} does not fit {what}: {error}") from None
    missing, unexpected = result.missing_keys, result.unexpected_keys
    if missing or unexpected:
        raise ValueError(
            f"{str(path)!r} is not a {what} state dict: missing "
            f"{_first(missing)}, unexpected {_first(unexpected)}"
        )


def _first(keys: list[str], n: int = 4) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more
