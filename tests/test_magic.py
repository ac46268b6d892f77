"""``%load_ext backprop_lens`` and ``%lens [MODEL] [IMAGE]`` in a real IPython shell."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython
from PIL import Image

from backprop_lens import data, models
from backprop_lens.widget import Explorer
from backprop_lens.widget.defaults import DEFAULT_MODEL


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    ip = start_ipython()
    assert ip is not None
    assert ip.find_line_magic("lens") is None
    ip.run_line_magic("load_ext", "backprop_lens")
    assert ip.find_line_magic("lens") is not None
    return ip


@pytest.fixture()
def explorers(shell: InteractiveShell) -> Iterator[list[Explorer]]:
    """Explorers a test made: each finishes its background work and is closed afterwards."""
    made: list[Explorer] = []
    yield made
    for explorer in made:
        explorer.wait(60)
        explorer.close()
    shell.user_ns.pop("w", None)


def lens(shell: InteractiveShell, args: str, explorers: list[Explorer]) -> Explorer:
    """Run ``w = %lens <args>`` as a cell, as a user would; the Explorer it made."""
    result = shell.run_cell(f"w = %lens {args}")
    assert result.success, result.error_in_exec
    explorer = shell.user_ns["w"]
    assert isinstance(explorer, Explorer)
    explorers.append(explorer)
    assert explorer.wait(120)
    assert explorer.status == "idle"
    return explorer


def fails_in_one_line(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str], line: str,
) -> str:
    """Run ``line``; it must fail with a UsageError that IPython prints as one line."""
    capsys.readouterr()
    result = shell.run_cell(line)
    out, err = capsys.readouterr()
    assert not result.success
    assert type(result.error_in_exec).__name__ == "UsageError"
    text = (out + err).strip()
    assert "Traceback" not in text
    assert len(text.splitlines()) == 1, text
    assert text.startswith("UsageError: %lens")
    return text


def input_pixels(explorer: Explorer) -> np.ndarray[Any, Any]:
    return np.asarray(Image.open(io.BytesIO(explorer.input_png)).convert("RGB"))


def write_png(path: Path, seed: int, size: int = 64) -> np.ndarray[Any, Any]:
    """A picture of shapes; at a model's input size, it is shown unresized."""
    pixels = data.shapes.generate(1, seed=seed, size=size, objects=2).images[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


def test_lens_without_arguments_is_the_default_explorer(
    shell: InteractiveShell, explorers: list[Explorer],
) -> None:
    explorer = lens(shell, "", explorers)
    assert explorer.model_name
    assert explorer.maps


def test_model_by_zoo_name_and_image_by_quoted_path(
    shell: InteractiveShell, explorers: list[Explorer], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    pixels = write_png(tmp_path / "my pics" / "it's \"ça\".png", seed=7)
    explorer = lens(shell, "shapes_cnn 'my pics/it'\"'\"'s \"ça\".png'", explorers)
    assert explorer.model_name == lens(shell, "shapes_cnn", explorers).model_name
    assert np.abs(input_pixels(explorer).astype(int) - pixels).max() <= 1


def test_model_and_image_by_variable(
    shell: InteractiveShell, explorers: list[Explorer], tmp_path: Path,
) -> None:
    spec = models.paper_cnn(n_filters=8, input_size=32, n_classes=10)
    picture = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    shell.user_ns.update(net=spec.module, spec=spec, picture=picture)
    explorer = lens(shell, "net picture", explorers)
    assert np.abs(input_pixels(explorer).astype(int) - picture).max() <= 1
    # A LensModel variable, and a variable holding a path.
    shell.user_ns["where"] = str(tmp_path / "p.png")
    pixels = write_png(tmp_path / "p.png", seed=3)
    explorer = lens(shell, "spec where", explorers)
    assert explorer.model is spec
    # paper_cnn resizes to 32×32: compare with the same resize.
    expected = spec.deprocess(spec.preprocess(Image.fromarray(pixels)))
    assert np.abs(input_pixels(explorer).astype(int) - np.asarray(expected)).max() <= 1


def test_default_model_with_an_image(
    shell: InteractiveShell, explorers: list[Explorer], tmp_path: Path,
) -> None:
    pixels = write_png(tmp_path / "a.png", seed=11, size=224)  # EfficientNet-Lite0's size
    explorer = lens(shell, f"- {tmp_path / 'a.png'}", explorers)
    assert explorer.model_name == models.load(DEFAULT_MODEL).name
    assert np.abs(input_pixels(explorer).astype(int) - pixels).max() <= 1


def test_bad_arguments_fail_in_one_clear_line(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    text = fails_in_one_line(shell, capsys, "%lens no_such_model")
    assert "MODEL must be a zoo name" in text and "shapes_cnn" in text
    assert "'no_such_model'" in text
    shell.user_ns["number"] = 3
    assert "holds a int" in fails_in_one_line(shell, capsys, "%lens number")
    text = fails_in_one_line(shell, capsys, "%lens shapes_cnn missing.png")
    assert "IMAGE must be a variable or an image file" in text and "missing.png" in text
    assert "at most two arguments" in fails_in_one_line(shell, capsys, "%lens a b c")
    assert "cannot read the arguments" in fails_in_one_line(shell, capsys, "%lens 'open")
    (tmp_path / "text.png").write_text("not a picture")
    text = fails_in_one_line(shell, capsys, f"%lens - {tmp_path / 'text.png'}")
    assert "text.png" in text and "not an image file" in text
    shell.user_ns["wrong"] = np.zeros((4,))
    assert "%lens: ValueError" in fails_in_one_line(shell, capsys, "%lens - wrong")


def test_lens_help_documents_the_arguments(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    shell.run_cell("%lens?")
    out = capsys.readouterr().out
    for words in ("%lens [MODEL] [IMAGE]", "zoo name", "nn.Module", "image file", "variable"):
        assert words in out, out

