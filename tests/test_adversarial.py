"""FGSM and PGD on the shipped shapes model: they flip predictions, stay in bounds and in the
mask, reach targets, are reproducible, leave the model as it was, and match Captum."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.robust import FGSM, PGD
from torch import nn

from backprop_lens import data, models
from backprop_lens.adversarial import fgsm, pgd, pixels_to_input_units

pytestmark = pytest.mark.usefixtures("no_network")

#: A modest budget: 8 of 255 pixel levels.
EPS_PIXELS = 8.0


@pytest.fixture(scope="module")
def spec() -> models.LensModel:
    return models.load("shapes_cnn")


@pytest.fixture(scope="module")
def batch() -> data.shapes.ShapesBatch:
    return data.shapes.generate(64, seed=5)


@pytest.fixture(scope="module")
def x(spec: models.LensModel, batch: data.shapes.ShapesBatch) -> torch.Tensor:
    return torch.cat([spec.preprocess(image) for image in batch.images])


def _eps(spec: models.LensModel, pixels: float = EPS_PIXELS) -> torch.Tensor:
    return pixels_to_input_units(spec, pixels)


def test_pixel_budgets_convert_per_channel() -> None:
    shapes_eps = pixels_to_input_units(models.load("shapes_cnn"), 8)
    assert torch.allclose(shapes_eps.flatten(), torch.full((3,), 8 / 255 / 0.5))
    assert torch.allclose(pixels_to_input_units(models.paper_cnn(input_size=32), 8).flatten(),
                          torch.full((3,), 8.0))  # 0–255 input, std 1
    imagenet = models.as_lens_model(nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(),
                                                  nn.LazyLinear(2)), input_size=32)
    assert torch.allclose(pixels_to_input_units(imagenet, 255).flatten(),
                          1 / torch.tensor(models.IMAGENET_STD))


def test_fgsm_flips_most_predictions_and_pgd_more(
    spec: models.LensModel, x: torch.Tensor, capsys: pytest.CaptureFixture[str]
) -> None:
    _, one_step = fgsm(spec, x, _eps(spec))
    _, iterated = pgd(spec, x, _eps(spec), _eps(spec, EPS_PIXELS / 4), steps=10)
    with capsys.disabled():
        print(f"\nshapes_cnn, eps {EPS_PIXELS:g}/255 on {len(x)} images: FGSM flips "
              f"{one_step.success_rate:.0%}, PGD (10 steps) {iterated.success_rate:.0%}")
    assert one_step.success_rate >= 0.5
    assert iterated.success_rate >= max(one_step.success_rate, 0.8)
    assert one_step.steps == 1 and iterated.steps == 10


def test_perturbations_stay_in_the_ball_and_the_valid_range(
    spec: models.LensModel, x: torch.Tensor
) -> None:
    low, high = spec.input_bounds
    eps = _eps(spec)
    x_adv, report = pgd(spec, x, eps, eps / 4, steps=5, random_start=True, seed=0)
    assert (x_adv >= low).all() and (x_adv <= high).all()
    assert ((x_adv - x).abs() <= eps + 1e-6).all()
    assert max(report.linf) <= float(eps.max()) + 1e-6
    x_l2, report_l2 = pgd(spec, x, 2.0, 0.5, steps=5, norm="l2", random_start=True, seed=0)
    assert ((x_l2 - x).flatten(1).norm(dim=1) <= 2.0 + 1e-5).all()
    assert max(report_l2.l2) <= 2.0 + 1e-5
    assert (x_l2 >= low).all() and (x_l2 <= high).all()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_a_masked_attack_changes_no_pixel_outside_the_mask(
    spec: models.LensModel, x: torch.Tensor, batch: data.shapes.ShapesBatch, norm: str
) -> None:
    mask = torch.from_numpy(batch.masks[0]).float()
    budget = _eps(spec, 16) if norm == "linf" else 3.0
    step = budget / 4
    x_adv, _ = pgd(spec, x[:1], budget, step, steps=5, norm=norm, mask=mask,
                   random_start=True, seed=1)
    change = (x_adv - x[:1])[0]
    assert (change[:, mask == 0] == 0).all()
    assert (change[:, mask == 1] != 0).any()


def test_a_soft_mask_scales_each_pixels_budget(spec: models.LensModel, x: torch.Tensor) -> None:
    mask = torch.zeros(64, 64)
    mask[:, :32] = 0.5
    mask[:, 32:] = 1.0
    eps = 0.1
    x_adv, _ = pgd(spec, x[:2], eps, eps, steps=3, mask=mask)
    change = (x_adv - x[:2]).abs()
    assert change[..., :32].max() <= 0.5 * eps + 1e-6
    assert change[..., 32:].max() > 0.5 * eps


def test_targeted_attacks_reach_the_target(
    spec: models.LensModel, x: torch.Tensor, batch: data.shapes.ShapesBatch
) -> None:
    targets = [(int(label) + 1) % 10 for label in batch.labels[:8]]
    eps = _eps(spec, 32)
    _, report = pgd(spec, x[:8], eps, eps / 8, steps=40, target=targets)
    assert report.target == targets
    assert report.success_rate >= 0.9
    _, one = fgsm(spec, x[:1], _eps(spec, 255), target=3)
    assert one.target == [3]


def test_random_starts_are_reproducible_and_leave_the_global_rng_alone(
    spec: models.LensModel, x: torch.Tensor
) -> None:
    state = torch.get_rng_state()
    first, _ = pgd(spec, x[:4], _eps(spec), _eps(spec, 2), 3, random_start=True, seed=7)
    second, _ = pgd(spec, x[:4], _eps(spec), _eps(spec, 2), 3, random_start=True, seed=7)
    other, _ = pgd(spec, x[:4], _eps(spec), _eps(spec, 2), 3, random_start=True, seed=8)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_the_model_is_left_untouched(spec: models.LensModel, x: torch.Tensor) -> None:
    module = spec.module
    before = {name: p.detach().clone() for name, p in module.state_dict().items()}
    module.train()
    module.fc1.eval()  # a mixed state, restored exactly
    flags = {name: m.training for name, m in module.named_modules()}
    seen_training: list[bool] = []
    handle = module.register_forward_pre_hook(lambda m, i: seen_training.append(m.training))
    try:
        pgd(spec, x[:4], _eps(spec), _eps(spec, 2), steps=2, random_start=True, seed=0)
        fgsm(spec, x[:4], _eps(spec), target=1)
    finally:
        handle.remove()
        flags_after = {name: m.training for name, m in module.named_modules()}
        module.eval()
    assert seen_training and not any(seen_training)  # attacked in eval mode
    assert flags_after == flags
    assert all(p.grad is None for p in module.parameters())
    assert all(torch.equal(before[name], p) for name, p in module.state_dict().items())
    assert not any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks
                   for m in module.modules())


def test_a_plain_module_is_attacked_without_bounds() -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    x = torch.full((2, 3, 2, 2), 5.0)  # far outside any image range: nothing clips it
    x_adv, report = fgsm(module, x, 0.5)
    assert torch.allclose((x_adv - x).abs(), torch.full_like(x, 0.5))
    assert report.linf == pytest.approx([0.5, 0.5])


# --- against Captum ----------------------------------------------------------------------------

def _captum_loss(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(outputs, target, reduction="none")


def _captum_fgsm(spec: models.LensModel) -> FGSM:
    """Captum's FGSM on the same loss and bounds. Captum leaves pixels whose |gradient| is
    below ``zero_thresh`` (1e-6) alone, where the definition (and ours) steps by sign(g):
    its documented knob, set to 0, makes the definitions match."""
    attack = FGSM(spec.module, _captum_loss, lower_bound=-1.0, upper_bound=1.0)
    attack.zero_thresh = 0.0
    return attack


def _clean_labels(spec: models.LensModel, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return spec.module(x).argmax(dim=1)


@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_matches_captum(spec: models.LensModel, x: torch.Tensor, targeted: bool) -> None:
    inputs = x[:16].clone().requires_grad_(True)  # as Captum wants its inputs
    eps = 8 / 255 / 0.5  # the shapes model's channels share one std
    labels = (_clean_labels(spec, inputs) + 1) % 10 if targeted else _clean_labels(spec, inputs)
    ours, _ = fgsm(spec, inputs, eps, target=labels.tolist() if targeted else None)
    theirs = _captum_fgsm(spec).perturb(inputs, eps, labels, targeted=targeted)
    assert torch.allclose(ours, theirs, atol=1e-5)


@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
@pytest.mark.parametrize("targeted", [False, True])
def test_linf_pgd_matches_captum(
    spec: models.LensModel, x: torch.Tensor, batch: data.shapes.ShapesBatch, targeted: bool
) -> None:
    inputs = x[:8].clone().requires_grad_(True)
    eps, step = 16 / 255 / 0.5, 4 / 255 / 0.5
    mask = torch.from_numpy(np.ones((64, 64), dtype=np.float32))
    mask[:, :20] = 0  # Captum multiplies the step by the mask, as we do for a 0/1 mask
    labels = (_clean_labels(spec, inputs) + 3) % 10 if targeted else _clean_labels(spec, inputs)
    ours, _ = pgd(spec, inputs, eps, step, steps=5, target=labels.tolist() if targeted else None,
                  mask=mask)
    attack = PGD(spec.module, _captum_loss, lower_bound=-1.0, upper_bound=1.0)
    attack.fgsm.zero_thresh = 0.0  # see _captum_fgsm
    theirs = attack.perturb(inputs, eps, step, 5, labels, targeted=targeted,
                            mask=mask.expand_as(inputs))
    assert torch.allclose(ours, theirs, atol=1e-5)


# --- bad arguments -----------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"eps": -0.1}, ValueError, "eps"),
    ({"eps": float("nan")}, ValueError, "eps"),
    ({"eps": "big"}, TypeError, "eps"),
    ({"step": 0}, ValueError, "step"),
    ({"steps": 0}, ValueError, "steps"),
    ({"steps": 2.5}, ValueError, "steps"),
    ({"norm": "l3"}, ValueError, "norm"),
    ({"norm": "l2", "eps": torch.ones(3)}, ValueError, "eps"),
    ({"eps": torch.ones(2)}, ValueError, "eps"),
    ({"mask": torch.ones(8, 8)}, ValueError, "mask"),
    ({"mask": torch.full((64, 64), 2.0)}, ValueError, "mask"),
    ({"mask": [[1.0]]}, TypeError, "mask"),
    ({"target": 10}, ValueError, "target"),
    ({"target": [1, 2, 3]}, ValueError, "target"),
    ({"target": "cat"}, TypeError, "target"),
    ({"random_start": 1}, TypeError, "random_start"),
])
def test_bad_arguments_name_the_argument(
    spec: models.LensModel, x: torch.Tensor, kwargs: dict[str, object], error: type[Exception],
    match: str,
) -> None:
    arguments: dict[str, object] = {"eps": 0.1, "step": 0.05, "steps": 2, **kwargs}
    with pytest.raises(error, match=match):
        pgd(spec, x[:2], **arguments)  # type: ignore[arg-type]


def test_bad_models_and_inputs_are_refused(spec: models.LensModel, x: torch.Tensor) -> None:
    with pytest.raises(TypeError, match="model"):
        fgsm("shapes_cnn", x, 0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="x"):
        fgsm(spec, x[0].numpy(), 0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model"):
        pixels_to_input_units(spec.module, 8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pixels"):
        pixels_to_input_units(spec, 0)


def test_on_step_reports_progress_and_can_stop_early(
    spec: models.LensModel, x: torch.Tensor,
) -> None:
    seen: list[tuple[int, int]] = []

    def stop_after_three(done: int, steps: int) -> bool:
        seen.append((done, steps))
        return done == 3

    eps = _eps(spec)
    stopped, report = pgd(spec, x[:4], eps, eps / 4, steps=10, on_step=stop_after_three)
    assert seen == [(1, 10), (2, 10), (3, 10)]
    assert report.steps == 3
    three, _ = pgd(spec, x[:4], eps, eps / 4, steps=3)
    assert torch.equal(stopped, three)  # stopping early is the same as asking for fewer steps
    with pytest.raises(TypeError, match="on_step"):
        pgd(spec, x[:4], eps, eps / 4, steps=2, on_step=3)  # type: ignore[arg-type]
