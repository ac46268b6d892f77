"""What the Explorer says must be true: an attack's report lives and dies with the perturbation it
made, a targeted attack that missed says so, an attack starts from the image the user chose and
keeps the painting recoverable, the centre crop is stated, and layers whose maps are flat for any
image are named (issue 16, "Say what is true"). What the page shows of these is checked in
tests/browser/test_perturb_browser.py and test_explorer_browser.py."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from backprop_lens import models
from backprop_lens.widget import OUTPUT, Explorer
from backprop_lens.widget.keys import map_key
from backprop_lens.widget.notes import crop_trait, flat_layers


@pytest.fixture()
def explorer() -> Explorer:
    w = Explorer(model="shapes_cnn")
    assert w.wait(60)
    return w


def paint(explorer: Explorer, mode: str = "brighten", strength: float = 80) -> None:
    height, width = explorer.input_shape
    cover = np.zeros((height, width), np.uint8)
    cover[10:20, 10:30] = 255
    send(explorer, {"type": "stroke", "mode": mode, "strength": strength, "width": width,
                    "height": height}, [cover.tobytes()])


def send(explorer: Explorer, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
    explorer._on_custom_message(explorer, content, [memoryview(b) for b in buffers or []])
    assert explorer.wait(60)
    assert not explorer.status.startswith("error"), explorer.status


def attack(explorer: Explorer, **request: Any) -> None:
    send(explorer, {"type": "attack", "method": "pgd", "eps": 8, "steps": 10, **request})


def test_undo_to_the_clean_image_takes_the_attack_report_away(explorer: Explorer) -> None:
    attack(explorer)
    assert explorer.attack_report["after"] != explorer.attack_report["before"]
    send(explorer, {"type": "undo"})
    assert not explorer.perturbed
    assert explorer.attack_report == {}


def test_reset_takes_the_attack_report_away(explorer: Explorer) -> None:
    attack(explorer)
    send(explorer, {"type": "reset"})
    assert not explorer.perturbed and explorer.attack_report == {}


def test_the_report_follows_its_perturbation_through_strokes_and_undo(explorer: Explorer) -> None:
    paint(explorer)
    assert explorer.attack_report == {}  # a painting has no attack report
    attack(explorer)
    report = dict(explorer.attack_report)
    paint(explorer, "darken", 20)  # the attack's change is still there: so is its report
    assert explorer.attack_report == report
    send(explorer, {"type": "undo"})  # back to the attack's own perturbation
    assert explorer.attack_report == report
    send(explorer, {"type": "undo"})  # back to the painting: no attack made it
    assert explorer.perturbed and explorer.attack_report == {}


def test_a_targeted_attack_that_missed_reports_its_target_and_the_miss(
    explorer: Explorer,
) -> None:
    unlikely = explorer.targets[OUTPUT][-1][0]
    attack(explorer, method="fgsm", eps=1, target=unlikely)
    report = explorer.attack_report
    assert report["target"] == unlikely and report["after"] != unlikely
    assert report["success"] is False and report["method"] == "fgsm"


def test_an_attack_from_the_clean_image_keeps_the_painting_one_undo_away(
    explorer: Explorer,
) -> None:
    paint(explorer, strength=120)
    painted = explorer.perturbation.clone()
    painted_scale = explorer.perturbation_scale
    attack(explorer, eps=8)
    assert explorer.attack_report["start"] == "clean"
    assert explorer.perturbation_scale <= 8 + 1e-3 < painted_scale  # the painting is gone…
    send(explorer, {"type": "undo"})
    assert torch.equal(explorer.perturbation, painted)  # …and one Undo brings it back


def test_an_attack_from_the_painted_image_keeps_the_painting(explorer: Explorer) -> None:
    paint(explorer, strength=120)
    painted = explorer.perturbation.clone()
    attack(explorer, eps=4, start="painted")
    assert explorer.attack_report["start"] == "painted"
    # Where the attack moved pixels, it moved them at most ε from the painted image.
    step = 4 / 255 / torch.tensor(explorer.model.std).view(1, -1, 1, 1) * explorer.model.scale
    assert bool(((explorer.perturbation - painted).abs() <= step + 1e-5).all())
    assert explorer.perturbation_scale > 100  # the painting is still there
    send(explorer, {"type": "undo"})
    assert torch.equal(explorer.perturbation, painted)


def test_an_unknown_start_is_named(explorer: Explorer) -> None:
    with pytest.raises(ValueError, match=r"start must be one of \['clean', 'painted'\]"):
        explorer.attack("fgsm", eps=8, start="noisy")


def test_the_crop_of_a_wide_picture_is_stated_and_shown() -> None:
    photo = Image.new("RGB", (300, 100), (200, 30, 30))
    found = crop_trait(photo, (64, 64))
    assert found["cropped"] and (found["width"], found["height"]) == (300, 100)
    assert found["box"] == [100, 0, 200, 100]  # the middle third is kept
    thumbnail = np.asarray(Image.open(io.BytesIO(found["picture"])))
    assert thumbnail.shape[:2] == (53, 160)
    assert thumbnail[26, 10].sum() < thumbnail[26, 80].sum()  # cut off: darkened


def test_a_square_picture_is_not_cropped_and_carries_no_thumbnail() -> None:
    found = crop_trait(np.zeros((32, 32, 3), np.uint8), (64, 64))
    assert found == {"width": 32, "height": 32, "box": [0, 0, 32, 32], "cropped": False}


def test_the_default_explorer_states_the_crop_of_the_cat_photo() -> None:
    explorer = Explorer(precompute=False, top_k=1)
    assert explorer.crop["cropped"] and explorer.crop["box"] == [76, 0, 376, 300]
    assert explorer.crop["picture"].startswith(b"\x89PNG")


def test_flat_layers_are_found_and_explained(explorer: Explorer) -> None:
    assert list(explorer.layer_notes) == ["conv1"]  # before the first ReLU
    assert "flat" in explorer.layer_notes["conv1"] and "ReLU" in explorer.layer_notes["conv1"]
    # And it is so: every method's map at conv1 is the same, whatever the channel.
    explorer.layer = "conv1"
    assert explorer.wait(60)
    key = map_key("conv1", explorer.target, "guided_backprop")
    pixels = np.asarray(Image.open(io.BytesIO(explorer.maps[key]["image"])))
    assert len(np.unique(pixels[2:-2, 2:-2].reshape(-1, 3), axis=0)) == 1  # uniform inside


def test_no_layer_after_a_rectifier_is_called_flat() -> None:
    spec = models.paper_cnn(n_filters=4, input_size=16, n_classes=3)
    x = spec.preprocess(np.random.default_rng(0).integers(0, 256, (16, 16, 3), np.uint8))
    names = [name for name, _ in spec.layers]
    assert flat_layers(spec, x, names) == [names[0]]  # the convolution; its ReLU is not flat
