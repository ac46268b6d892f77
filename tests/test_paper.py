"""The paper's experiments as a library: claims, results and figures, on users' own models."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from backprop_lens import data, models, paper
from backprop_lens.paper.claims import Claim
from backprop_lens.paper.reproduce import check_ids, claims_table, prepare_output

pytestmark = pytest.mark.usefixtures("no_network")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _picture(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(40, 40, 3), dtype=np.uint8)


def test_a_claim_holds_when_its_value_meets_the_threshold() -> None:
    def claim(value: float, op: str) -> Claim:
        return Claim("x", "c", "m", value, 0.6, op)

    assert claim(0.6, ">=").holds and not claim(0.59, ">=").holds
    assert claim(0.6, "<=").holds and not claim(0.61, "<=").holds
    assert not claim(0.6, ">").holds and claim(0.61, ">").holds
    assert not claim(math.nan, "<=").holds and not claim(math.nan, ">=").holds
    assert claim(math.inf, ">=").holds and not claim(math.inf, "<=").holds
    assert claim(0.7, ">=").as_dict() == {"id": "x", "claim": "c", "metric": "m", "value": 0.7,
                                           "threshold": 0.6, "op": ">=", "holds": True}
    with pytest.raises(ValueError, match="op"):
        claim(0.5, "==")


def test_an_experiment_runs_on_a_users_model_and_pictures() -> None:
    spec = models.paper_cnn(n_filters=8, input_size=32, seed=3)
    result = paper.random_cnn(model=spec, images=[_picture(0), _picture(1)])
    assert result.id == "random_cnn"
    maps = result.maps[spec.name]
    assert set(maps) == {"saliency", "deconvnet", "guided_backprop"}
    assert all(m.shape == (2, 3, 32, 32) for m in maps.values())
    numbers = result.metrics[spec.name]["guided_backprop"]
    assert set(numbers) == {"r", "|r|", "ssim"} and all(map(math.isfinite, numbers.values()))
    assert result.claims[0].metric == "r(GBP, x)"
    assert all(math.isfinite(c.value) for c in result.claims)
    assert result.holds == all(c.holds for c in result.claims)
    assert "mean over 2 images" in result.setting
    assert result.grid.rows == ["input", "saliency", "DeconvNet", "GBP"]
    assert result.png().startswith(PNG_SIGNATURE)


def test_sweeps_take_any_networks_in_the_order_given() -> None:
    networks = {f"N={n}": models.paper_cnn(n_filters=n, input_size=32) for n in (2, 8)}
    result = paper.filters(networks=networks, images=[_picture(2)])
    assert result.grid.columns == ["N=2", "N=8"]
    r = [result.metrics[c]["guided_backprop"]["r"] for c in networks]
    assert result.claims[0].value == pytest.approx(r[1] - r[0])


def test_class_sensitivity_needs_two_object_images() -> None:
    spec = models.paper_cnn(n_filters=4, input_size=64)
    with pytest.raises(ValueError, match="two-object"):
        paper.class_sensitivity(model=spec, batch=data.shapes.generate(2, objects=1))


def test_class_sensitivity_on_a_users_batch() -> None:
    spec = models.paper_cnn(n_filters=4, input_size=64)
    result = paper.class_sensitivity(model=spec, batch=data.shapes.generate(3, objects=2))
    numbers = result.metrics["two-object images"]["saliency"]
    assert 0 <= numbers["on_object"] <= 1 and 0 <= numbers["distance"] <= 2
    assert result.maps["object 1's class"]["guided_backprop"].shape == (3, 3, 64, 64)
    assert len(result.claims) == 3


def test_ids_are_checked_and_kept_in_report_order() -> None:
    assert check_ids(["fcn", "random_cnn"]) == ["random_cnn", "fcn"]
    with pytest.raises(ValueError, match=r"'nope'.*choose from random_cnn"):
        check_ids(["nope"])
    with pytest.raises(ValueError, match="no experiment"):
        check_ids([])


def test_the_output_folder_must_be_writable(tmp_path: Path) -> None:
    blocker = prepare_output(f"{tmp_path}/made/here") / "a-file"
    blocker.write_text("")
    with pytest.raises(OSError, match="cannot write to the output folder"):
        prepare_output(blocker / "inside")


def test_the_claims_table_escapes_pipes_and_marks_failures() -> None:
    claims = [Claim("a", "holds", "mean |r|", 0.1, 0.15, "<="),
              Claim("b", "fails", "r", 0.1, 0.6, ">=")]
    table = claims_table(claims)
    assert "| `a` | holds | mean \\|r\\| | 0.100 | ≤ 0.15 | yes |" in table
    assert "| `b` | fails | r | 0.100 | ≥ 0.6 | **no** |" in table


def test_experiments_are_registered_under_their_stable_ids() -> None:
    assert list(paper.EXPERIMENTS) == [
        "random_cnn", "filters", "fcn", "max_pool", "random_vgg", "depth",
        "class_sensitivity", "adversarial", "partial_training",
    ]


def test_experiments_leave_the_global_random_state_alone() -> None:
    state = torch.get_rng_state()
    paper.max_pool(model=models.paper_cnn(n_filters=4, max_pool=True, input_size=32),
                   images=[_picture(3)])
    assert torch.equal(torch.get_rng_state(), state)
