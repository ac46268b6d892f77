"""Adversarial perturbations (FGSM, PGD), optionally confined to a region of the picture.

The paper's point: a perturbation too small to see flips a network's prediction,
yet guided backprop's map barely changes — it shows the picture, not the decision — while the
saliency map does change. These attacks make such inputs for any model.

Units: ``x`` is the model input as ``LensModel.preprocess`` returns it, and ``eps`` / ``step``
are in those units (a float, or one value per channel shaped (1, C, 1, 1));
``pixels_to_input_units`` converts a budget in 0–255 pixel steps. With a ``LensModel`` the
result stays inside ``input_bounds`` (the inputs of valid pictures); a plain ``nn.Module`` has
no known bounds, so its inputs are not clipped.

The model is left as the engine leaves it: eval mode during the attack with every submodule's
flag restored, no hooks, parameters unchanged, no ``.grad`` on them (gradients are taken with
respect to the input only), and the global random state untouched (a random start draws from a
private generator).
"""

from __future__ import annotations

import math
import numbers
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .engine.activations import logits_from_output
from .engine.attribute import as_module, check_input
from .engine.model_guard import eval_twin
from .models import LensModel
from .models.init import seeded_generator

NORMS = ("linf", "l2")

Budget = float | torch.Tensor


@dataclass(frozen=True)
class AttackReport:
    """What an attack did, one entry per example.

    ``confidence_*`` is the softmax probability of the predicted class; ``linf`` / ``l2`` the
    size of the perturbation in input units; ``steps`` the gradient steps taken.
    """

    before: list[int]
    after: list[int]
    confidence_before: list[float]
    confidence_after: list[float]
    linf: list[float]
    l2: list[float]
    steps: int
    target: list[int] | None = None

    @property
    def flipped(self) -> list[bool]:
        """Whether each prediction changed."""
        return [b != a for b, a in zip(self.before, self.after, strict=True)]

    @property
    def success(self) -> list[bool]:
        """Targeted: the prediction is the target. Untargeted: the prediction changed."""
        if self.target is None:
            return self.flipped
        return [a == t for a, t in zip(self.after, self.target, strict=True)]

    @property
    def success_rate(self) -> float:
        return sum(self.success) / len(self.success)


def pixels_to_input_units(model: LensModel, pixels: float) -> torch.Tensor:
    """A budget of ``pixels`` 0–255 steps in ``model``'s input units, per channel (1, C, 1, 1).

    Preprocessing maps a pixel value p to (p / 255 · scale − mean) / std, so a change of
    ``pixels`` becomes pixels / 255 · scale / std in each channel.
    """
    if not isinstance(model, LensModel):
        raise TypeError(f"model must be a LensModel (it knows its preprocessing); got "
                        f"{type(model).__name__}")
    _check_positive(pixels, "pixels")
    like = model.input_bounds[0]
    std = torch.tensor(model.std, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
    return float(pixels) / 255.0 * model.scale / std


def fgsm(
    model: LensModel | nn.Module, x: torch.Tensor, eps: Budget,
    target: int | Sequence[int] | None = None,
) -> tuple[torch.Tensor, AttackReport]:
    """One step of size ``eps`` along the sign of the input gradient (Goodfellow et al., 2015).

    Untargeted (``target=None``): away from each example's current prediction. Targeted:
    towards ``target`` (one class for all examples, or one per example).
    """
    return pgd(model, x, eps, step=eps, steps=1, target=target)


def pgd(
    model: LensModel | nn.Module,
    x: torch.Tensor,
    eps: Budget,
    step: Budget,
    steps: int,
    target: int | Sequence[int] | None = None,
    norm: str = "linf",
    mask: torch.Tensor | np.ndarray | None = None,
    random_start: bool = False,
    seed: int | None = None,
    on_step: Callable[[int, int], bool | None] | None = None,
) -> tuple[torch.Tensor, AttackReport]:
    """Projected gradient descent (Madry et al., 2018) within an ``eps`` ball around ``x``.

    Each step moves by ``step`` along the sign of the gradient (``"linf"``) or along the
    gradient scaled to L2 norm ``step`` (``"l2"``), then projects back into the ball and into
    the model's input bounds. Untargeted attacks climb the cross-entropy of each example's
    clean prediction; targeted ones descend that of ``target``.

    Args:
        mask: (H, W) in [0, 1]; pixels where it is 0 never change. Under ``"linf"`` a pixel's
            budget is ``eps × mask``; under ``"l2"`` the mask weights each step.
        random_start: start from a uniform random point of the ball (reproducible with
            ``seed``; drawn from a private generator).
        on_step: called as ``on_step(done, steps)`` after each step (for progress); when it
            returns True the attack stops there, and the report counts the steps taken.

    Returns:
        The perturbed input (detached, like ``x``) and an :class:`AttackReport`.
    """
    module = as_module(model)
    check_input(x, module)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}; got {norm!r}")
    eps_t = _budget(eps, "eps", x, norm)
    step_t = _budget(step, "step", x, norm)
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be a positive int; got {steps!r}")
    if not isinstance(random_start, bool):
        raise TypeError(f"random_start must be a bool; got {type(random_start).__name__}")
    if on_step is not None and not callable(on_step):
        raise TypeError(f"on_step must be callable or None; got {type(on_step).__name__}")
    weight = _mask(mask, x)
    low, high = _bounds(model, x)
    x = x.detach()

    module = eval_twin(module)  # the user's model is never changed, even for a moment
    with torch.enable_grad():
        before = _predict(module, x)
        labels = before.argmax(dim=1) if target is None else _targets(target, x, before)
        sign = -1.0 if target is not None else 1.0  # descend the target's loss, else climb
        delta = torch.zeros_like(x)
        if random_start:
            delta = _random_start(x, eps_t, norm, weight, seed)
        delta = _project(x, delta, eps_t, norm, weight, low, high)
        taken = 0
        for _ in range(int(steps)):
            gradient = _loss_gradient(module, x + delta, labels)
            delta = delta + sign * _step(gradient, step_t, norm, weight)
            delta = _project(x, delta, eps_t, norm, weight, low, high)
            taken += 1
            if on_step is not None and on_step(taken, int(steps)):
                break
        x_adv = (x + delta).detach()
        after = _predict(module, x_adv)

    return x_adv, _report(before, after, delta, taken,
                          None if target is None else labels.tolist())


# --- the steps -----------------------------------------------------------------------------

def _loss_gradient(module: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """∂ cross-entropy / ∂ input, for each example (summed loss: examples do not interact)."""
    x_in = x.detach().requires_grad_(True)
    loss = F.cross_entropy(logits_from_output(module(x_in)), labels, reduction="sum")
    (gradient,) = torch.autograd.grad(loss, x_in)
    return gradient


def _step(gradient: torch.Tensor, step: torch.Tensor, norm: str, weight: torch.Tensor
          ) -> torch.Tensor:
    if norm == "linf":
        return step * gradient.sign() * weight
    direction = gradient * weight
    length = direction.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return step * direction / length


def _project(
    x: torch.Tensor, delta: torch.Tensor, eps: torch.Tensor, norm: str, weight: torch.Tensor,
    low: torch.Tensor, high: torch.Tensor,
) -> torch.Tensor:
    """``delta`` back into the ball, the region of the mask, and the valid input range."""
    if norm == "linf":
        radius = eps * weight
        delta = torch.maximum(torch.minimum(delta, radius), -radius)
    else:
        length = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        delta = delta * (eps / length.clamp_min(1e-12)).clamp(max=1.0)
    delta = torch.maximum(torch.minimum(x + delta, high), low) - x
    # Clipping to the bounds must not move a pixel the mask excludes (x itself may lie
    # slightly outside the bounds).
    return torch.where(weight > 0, delta, torch.zeros_like(delta))


def _random_start(x: torch.Tensor, eps: torch.Tensor, norm: str, weight: torch.Tensor,
                  seed: int | None) -> torch.Tensor:
    generator = seeded_generator(secrets.randbits(63) if seed is None else seed)
    if norm == "linf":
        uniform = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return (2.0 * uniform - 1.0) * eps * weight
    direction = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device) * weight
    direction = direction / direction.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    dims = x[0].numel()
    radius = torch.rand(x.shape[0], generator=generator, dtype=x.dtype).to(x.device)
    return direction * eps * radius.pow(1.0 / dims).view(-1, 1, 1, 1)


# --- reading the model ---------------------------------------------------------------------

def _predict(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return logits_from_output(module(x)).softmax(dim=1)


def _report(before: torch.Tensor, after: torch.Tensor, delta: torch.Tensor, steps: int,
            target: list[int] | None) -> AttackReport:
    confidence_before, predicted_before = before.max(dim=1)
    confidence_after, predicted_after = after.max(dim=1)
    flat = delta.flatten(1)
    return AttackReport(
        before=predicted_before.tolist(), after=predicted_after.tolist(),
        confidence_before=confidence_before.tolist(), confidence_after=confidence_after.tolist(),
        linf=flat.abs().amax(dim=1).tolist(), l2=flat.norm(dim=1).tolist(),
        steps=steps, target=target,
    )


# --- checking arguments --------------------------------------------------------------------

def _check_positive(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number; got {type(value).__name__}")
    if not (math.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"{name} must be a positive finite number; got {value!r}")


def _budget(value: object, name: str, x: torch.Tensor, norm: str) -> torch.Tensor:
    """``value`` as a tensor that broadcasts over ``x``: a scalar, or one value per channel."""
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return _budget(float(value), name, x, norm)
        if norm == "l2":
            raise ValueError(f"{name} must be a single number for norm='l2'; got a tensor of "
                             f"shape {tuple(value.shape)}")
        if value.numel() != x.shape[1]:
            raise ValueError(f"{name} must be a number or hold one value per channel "
                             f"({x.shape[1]}); got shape {tuple(value.shape)}")
        tensor = value.detach().to(device=x.device, dtype=x.dtype).reshape(1, -1, 1, 1)
        if not (torch.isfinite(tensor).all() and (tensor > 0).all()):
            raise ValueError(f"{name} must be positive and finite; got {value.flatten().tolist()}")
        return tensor
    _check_positive(value, name)
    return torch.tensor(float(value), dtype=x.dtype, device=x.device)  # type: ignore[arg-type]


def _mask(mask: object, x: torch.Tensor) -> torch.Tensor:
    """The mask as a (1, 1, H, W) weight (all ones without one)."""
    if mask is None:
        return torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(mask)
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a tensor or numpy array (H, W) or None; got "
                        f"{type(mask).__name__}")
    if tuple(mask.shape) != tuple(x.shape[2:]):
        raise ValueError(f"mask must be shaped (H, W) = {tuple(x.shape[2:])}; got "
                         f"{tuple(mask.shape)}")
    weight = mask.detach().to(device=x.device, dtype=x.dtype)
    if not (torch.isfinite(weight).all() and weight.min() >= 0 and weight.max() <= 1):
        raise ValueError("mask values must lie in [0, 1]")
    return weight.view(1, 1, *weight.shape)


def _bounds(model: object, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(model, LensModel):
        low, high = model.input_bounds
        return low.to(device=x.device, dtype=x.dtype), high.to(device=x.device, dtype=x.dtype)
    infinite = torch.tensor(math.inf, dtype=x.dtype, device=x.device)
    return -infinite, infinite


def _targets(target: object, x: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """One target class per example, from an int (all) or a sequence (one each)."""
    n_examples, n_classes = scores.shape
    if isinstance(target, torch.Tensor | np.ndarray):
        target = target.tolist()
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        values: list[object] = [target] * n_examples
    elif isinstance(target, Sequence) and not isinstance(target, str):
        values = list(target)
    else:
        raise TypeError(f"target must be an int, a sequence of ints or None; got "
                        f"{type(target).__name__}")
    if len(values) != n_examples or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"target must be an int or one int per example ({n_examples}); "
                         f"got {target!r}")
    indices = [int(v) for v in values]  # type: ignore[call-overload]
    if not all(0 <= i < n_classes for i in indices):
        raise ValueError(f"target must be in [0, {n_classes}); got {indices}")
    return torch.tensor(indices, device=x.device)
