"""stats.run with the local engine: rows, metrics, resume, settings, bad input, summary, CLI."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from torch import nn

from backprop_lens import METHODS as ALL_METHODS
from backprop_lens import attribute, data, metrics, models, stats
from backprop_lens.cli import main
from backprop_lens.stats.batched import target_maps
from backprop_lens.stats.sources import open_source, read_item

# Runs over folders decode in DataLoader worker processes, which talk over Unix sockets: the
# no_network fixture (it refuses every socket) is used where nothing is decoded in workers.
offline = pytest.mark.usefixtures("no_network")

METHODS = ("saliency", "deconvnet", "guided_backprop")


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory: pytest.TempPathFactory) -> stats.StatsResult:
    out = tmp_path_factory.mktemp("run") / "results.parquet"
    return stats.run("shapes_cnn", "shapes:6:0", methods=METHODS, targets="top3", out=out,
                     batch_size=4, progress=False)


@pytest.mark.slow
@offline
def test_one_row_per_image_model_and_method(shapes_run: stats.StatsResult) -> None:
    rows = shapes_run.rows
    assert rows.num_rows == 6 * len(METHODS) and rows.schema.equals(stats.SCHEMA)
    keys = {(r["image"], r["model"], r["method"]) for r in rows.to_pylist()}
    assert len(keys) == rows.num_rows
    for row in rows.to_pylist():
        assert row["error"] is None and len(row["targets"]) == 3
        assert row["targets"][0] == row["predicted"]
        assert -1 <= row["recovery_r"] <= 1 and 0 <= row["localisation"] <= 1
        assert 0 <= row["class_sensitivity"] <= 2
        assert row["cascade_top_ssim"] is None and row["pgd_ssim"] is None


@pytest.mark.slow
@offline
def test_metrics_match_the_engine_one_image_at_a_time(shapes_run: stats.StatsResult) -> None:
    spec, source = models.load("shapes_cnn"), open_source("shapes:6:0")
    for row in shapes_run.rows.to_pylist()[::4]:
        item = read_item(source, row["index"], [spec.input_size])
        x = spec.preprocess(item.pixels[spec.input_size])
        maps = attribute(spec, x, row["method"], row["targets"])
        assert math.isclose(row["class_sensitivity"], metrics.class_sensitivity(maps),
                            rel_tol=1e-4)
        assert math.isclose(row["recovery_r"], metrics.recovery_correlation(maps[0], x),
                            rel_tol=1e-4, abs_tol=1e-6)
        mask = item.masks[spec.input_size]
        assert math.isclose(row["localisation"], metrics.mass_inside(maps[0], mask),
                            rel_tol=1e-4)


@pytest.mark.slow
def test_batched_maps_equal_single_image_calls() -> None:
    spec = models.load("shapes_cnn")
    x = torch.cat([spec.preprocess(image) for image in
                   data.shapes.generate(3, seed=4).images])
    targets = torch.tensor([[1, 2], [3, 0], [9, 9]])
    for method in ALL_METHODS:  # the stacked batch (rule methods) and one image a call
        batched = target_maps(spec, x, method, targets)
        for n in range(3):
            single = attribute(spec, x[n:n + 1], method, targets[n].tolist())
            torch.testing.assert_close(batched[n], single, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_the_summary_is_returned_and_written_beside_the_results(
        shapes_run: stats.StatsResult) -> None:
    table = shapes_run.summary.table.to_pylist()
    assert {(r["model"], r["method"]) for r in table} == {("shapes_cnn", m) for m in METHODS}
    for row in table:
        assert row["n"] == 6 and row["ci_low"] <= row["mean"] <= row["ci_high"]
    csv = shapes_run.out.with_name("results.summary.csv").read_text("utf-8")
    assert csv.count("shapes_cnn") == len(table)
    text = shapes_run.out.with_name("results.summary.md").read_text("utf-8")
    assert "| shapes_cnn | guided_backprop | class_sensitivity | 6 |" in text
    assert "6 images measured, 0 failed" in str(shapes_run)


def test_a_bigger_run_resumes_and_counts_nothing_twice(tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    first = stats.run("shapes_cnn", "shapes:4:0", methods="saliency", targets="top2", out=out,
                      progress=False)
    images = tmp_path / "pictures"
    for i, picture in enumerate(data.shapes.generate(4).images):
        images.mkdir(exist_ok=True)
        Image.fromarray(picture).save(images / f"{i}.png")
    second = stats.run("shapes_cnn", [*sorted(images.glob("*.png"))[:2]], methods="saliency",
                       targets="top2", out=out, progress=False)
    again = stats.run("shapes_cnn", "shapes:4:0", methods="saliency", targets="top2", out=out,
                      progress=False)
    assert (first.computed, second.computed, again.computed) == (4, 2, 0)
    assert again.skipped == 4
    rows = pq.read_table(out)  # the folder reads as one table with pyarrow (and pandas)
    assert rows.num_rows == 6 and len(set(rows.column("image").to_pylist())) == 6


@offline
def test_another_runs_settings_are_refused_naming_the_difference(tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    stats.run("shapes_cnn", "shapes:2", methods="saliency", targets="top2", out=out,
              progress=False)
    with pytest.raises(ValueError, match=r"targets: 'top3' vs 'top2'"):
        stats.run("shapes_cnn", "shapes:2", methods="saliency", targets="top3", out=out,
                  progress=False)
    with pytest.raises(ValueError, match=r"methods: \('saliency', 'deconvnet'\) vs"):
        stats.run("shapes_cnn", "shapes:2", methods=["saliency", "deconvnet"], targets="top2",
                  out=out, progress=False)
    (tmp_path / "file.parquet").write_bytes(b"PAR1")
    with pytest.raises(ValueError, match="is a file"):
        stats.run("shapes_cnn", "shapes:2", out=tmp_path / "file.parquet", progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match="does not hold backprop-lens results"):
        stats.run("shapes_cnn", "shapes:2", out=tmp_path / "other", progress=False)


class _Picky(nn.Module):
    """A small CNN that refuses very bright inputs (as a model with a data check would)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.mean(dim=(1, 2, 3)) > 1.5).any():
            raise ValueError("input too bright")
        return self.head(self.conv(x))


def test_bad_images_and_model_failures_are_named_and_the_run_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for name, value in (("dark.png", 20), ("grey.png", 128), ("white.png", 250)):
        Image.fromarray(np.full((24, 24, 3), value, dtype=np.uint8)).save(folder / name)
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    torch.manual_seed(0)
    picky = dataclasses.replace(models.as_lens_model(_Picky(), input_size=16,
                                                     classes=["a", "b", "c"]), name="picky")
    result = stats.run(picky, folder, methods=METHODS, targets="top2",
                       out=tmp_path / "r.parquet", workers=1, progress=False)
    failures = result.summary.failures
    assert set(failures) == {"corrupt.png", "white.png"}
    assert failures["corrupt.png"].startswith("unreadable")
    assert "model 'picky' failed: ValueError: input too bright" in failures["white.png"]
    assert result.summary.images == 2
    assert "corrupt.png: unreadable" in str(result) and "- white.png: model 'picky'" in str(result)
    assert result.rows.num_rows == 4 * len(METHODS)


@pytest.mark.slow
@offline
def test_label_targets_and_the_optional_stability_metrics(tmp_path: Path) -> None:
    result = stats.run("shapes_cnn", "shapes:2:3", methods=["saliency", "guided_backprop"],
                       targets="label", out=tmp_path / "r.parquet", cascade=True, pgd=True,
                       progress=False)
    for row in result.rows.to_pylist():
        assert row["targets"] == [row["label"]] and row["class_sensitivity"] is None
        for column in ("cascade_top_ssim", "cascade_all_ssim", "pgd_ssim"):
            assert -1 <= row[column] <= 1
        assert isinstance(row["pgd_flipped"], bool)


@offline
@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"engine": "spark"}, ValueError, "engine must be one of"),
    ({"methods": ["gradient"]}, ValueError, "method must be one of"),
    ({"targets": "top0"}, ValueError, "targets must be 'topK'"),
    ({"targets": [1.5]}, TypeError, "targets must be"),
    ({"models": ["shapes_cnn", "shapes_cnn"]}, ValueError, "appear more than once"),
    ({"models": ["no_such_model"]}, ValueError, "not a zoo name"),
    ({"batch_size": 0}, ValueError, "batch_size must be"),
    ({"cascade": "yes"}, TypeError, "cascade must be True or False"),
    ({"targets": [10]}, ValueError, "out of range"),
])
def test_bad_arguments_name_themselves(tmp_path: Path, kwargs: dict[str, object],
                                       error: type[Exception], match: str) -> None:
    arguments: dict[str, object] = {"models": "shapes_cnn", "images": "shapes:2",
                                    "out": tmp_path / "r.parquet", "progress": False, **kwargs}
    with pytest.raises(error, match=match):
        stats.run(**arguments)  # type: ignore[arg-type]


@offline
def test_cli_prints_the_summary(tmp_path: Path) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["stats", "--model", "shapes_cnn", "--images", "shapes:3:1", "--out",
                       str(tmp_path / "r.parquet"), "--methods", "saliency,guided_backprop",
                       "--targets", "top2", "--no-progress"])
        bad = main(["stats", "--model", "shapes_cnn", "--images", str(tmp_path / "nothing"),
                    "--out", str(tmp_path / "x.parquet")])
    assert status == 0 and "3 images measured, 0 failed" in stdout.getvalue()
    assert "| shapes_cnn | guided_backprop | recovery_ssim | 3 |" in stdout.getvalue()
    assert bad == 2 and "error: images:" in stderr.getvalue()
