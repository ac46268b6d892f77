"""The ``%lens`` line magic: ``%load_ext backprop_lens``, then ``%lens [MODEL] [IMAGE]``.

The notebook side of the JupyterLab extension: one line gives an Explorer, with the arguments
read the way a user types them (zoo names, variable names, file paths). A bad argument raises
IPython's ``UsageError``, which IPython prints as one line, never as a traceback.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from torch import nn

from . import models
from .models import LensModel

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .widget import Explorer

#: ``%lens - photo.png``: the default model with a picture of one's own.
DEFAULT = "-"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def resolve_model(arg: str, namespace: Mapping[str, Any]) -> LensModel | nn.Module | str | None:
    """What ``MODEL`` names: a variable holding an ``nn.Module`` or a ``LensModel`` (first, so
    that a user's own network wins), else a zoo name, else ``None`` for ``-``.

    Raises:
        UsageError: for anything else, naming the zoo and what the variable holds.
    """
    if arg == DEFAULT:
        return None
    value = namespace.get(arg) if arg.isidentifier() else None
    if isinstance(value, nn.Module | LensModel):
        return value
    zoo = models.available(include_missing=True)
    if arg in zoo:
        return arg
    held = f" (the variable {arg!r} holds a {type(value).__name__})" if arg in namespace else ""
    raise UsageError(f"%lens: MODEL must be a zoo name ({', '.join(zoo)}), a variable holding an "
                     f"nn.Module or LensModel, or '-' for the default; got {arg!r}{held}")


def resolve_image(arg: str, namespace: Mapping[str, Any]) -> Any:
    """What ``IMAGE`` names: a variable (a picture, an array, a tensor, or a path), else a file
    path (``~`` expanded, relative to the kernel's working directory).

    Raises:
        UsageError: when it is neither a variable nor an existing file.
    """
    if arg.isidentifier() and arg in namespace:
        value = namespace[arg]
        if not isinstance(value, str | os.PathLike):
            return value
        arg = os.fspath(value)
    path = Path(arg).expanduser()
    if path.is_file():
        return str(path)
    raise UsageError(f"%lens: IMAGE must be a variable or an image file; no file {str(path)!r} "
                     f"in {os.getcwd()!r}")


def explorer_from_line(line: str, namespace: Mapping[str, Any]) -> Explorer:
    """The Explorer that ``%lens <line>`` shows; ``namespace`` is the user's (variables).

    Raises:
        UsageError: on any bad argument, in one line: more than two arguments, unbalanced quotes,
            an unknown model, a missing file, or an image or model the Explorer refuses.
    """
    from .widget import Explorer

    try:
        args = shlex.split(line)
    except ValueError as error:
        raise UsageError(f"%lens: cannot read the arguments: {_one_line(error)}") from None
    if len(args) > 2:
        raise UsageError(f"%lens takes at most two arguments, MODEL and IMAGE; got {len(args)}: "
                         f"{args} (quote a path with spaces)")
    model = resolve_model(args[0], namespace) if args else None
    image = resolve_image(args[1], namespace) if len(args) == 2 else None
    try:
        return Explorer(model=model, image=image)
    except (ValueError, TypeError, OSError, KeyError) as error:
        raise UsageError(f"%lens: {type(error).__name__}: {_one_line(error)}") from None


@magics_class
class LensMagics(Magics):
    """The magics ``%load_ext backprop_lens`` registers."""

    @line_magic
    def lens(self, line: str) -> Explorer:
        """Show a Backprop Lens Explorer: saliency, DeconvNet and guided backprop of one image.

        Usage::

            %lens [MODEL] [IMAGE]

        MODEL   a zoo name (``backprop_lens.models.available()``, e.g. ``shapes_cnn``,
                ``paper_cnn``, ``vgg16_random``), a variable holding an ``nn.Module`` or a
                ``LensModel``, or ``-`` for the Explorer's default (EfficientNet-Lite0).
        IMAGE   an image file (PNG, JPEG, WebP, BMP, GIF, TIFF; quote a path with spaces), or a
                variable holding a PIL image, an array (H, W, 3), a tensor or a path.
                Omitted: the model's default picture (the cat photo; for the shapes CNNs,
                a picture of two shapes).

        Examples::

            %lens
            %lens paper_cnn
            %lens - "my photos/cat.png"
            explorer = %lens net picture

        The result is the ``Explorer`` widget; it shows when ``%lens`` is the cell's last line.
        A bad argument is reported in one line (IPython's ``UsageError``).
        """
        return explorer_from_line(line, self.shell.user_ns if self.shell else {})


def register(ipython: InteractiveShell) -> None:
    """Add ``%lens`` to an IPython shell (what ``%load_ext backprop_lens`` calls)."""
    ipython.register_magics(LensMagics)
