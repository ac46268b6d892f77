"""``backprop-lens publish``: its errors. Publishing the shipped notebooks, and the pages in a real
browser, is in tests/browser/test_published.py."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from browser.harness import write_notebook

from backprop_lens.cli import main


def run_cli(*args: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["publish", *args])
    return status, stdout.getvalue(), stderr.getvalue()


def test_a_missing_notebook_is_named(tmp_path: Path) -> None:
    status, _, stderr = run_cli(str(tmp_path / "nope.ipynb"), "--out", str(tmp_path / "p.html"))
    assert status == 2
    assert "no notebook at" in stderr and "nope.ipynb" in stderr


def test_an_unwritable_page_fails_before_running_anything(tmp_path: Path) -> None:
    notebook = tmp_path / "n.ipynb"
    write_notebook(notebook, ["raise AssertionError('the notebook must not run')"])
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    status, _, stderr = run_cli(str(notebook), "--out", str(blocker / "page.html"))
    assert status == 2
    assert "cannot write the page to" in stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_failing_cell_stops_the_run_and_is_shown(tmp_path: Path) -> None:
    notebook = tmp_path / "n.ipynb"
    write_notebook(notebook, ["x = 1", "raise RuntimeError('boom in cell two')"])
    status, _, stderr = run_cli(str(notebook), "--out", str(tmp_path / "page.html"))
    assert status == 1
    assert "the notebook failed" in stderr and "boom in cell two" in stderr
    assert not (tmp_path / "page.html").exists()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_explorer_that_refuses_a_grid_says_what_to_call(tmp_path: Path) -> None:
    notebook = tmp_path / "n.ipynb"
    write_notebook(notebook, [
        "from backprop_lens import Explorer\nExplorer(precompute=False)"])
    status, _, stderr = run_cli(str(notebook), "--out", str(tmp_path / "page.html"))
    assert status == 1
    assert "precompute=True" in stderr
