"""`backprop-lens reproduce` end to end (quick mode), and its errors."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import pytest

from backprop_lens.cli import main
from backprop_lens.paper import EXPERIMENTS
from backprop_lens.paper.reproduce import BEYOND, ON_IMAGENET

pytestmark = pytest.mark.usefixtures("no_network")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str, str]:
    """One `reproduce --quick` into a fresh folder: (folder, exit status, stdout, stderr)."""
    out = tmp_path_factory.mktemp("results") / "quick"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["reproduce", "--out", str(out), "--quick"])
    return out, status, stdout.getvalue(), stderr.getvalue()


@pytest.mark.slow
def test_reproduce_quick_writes_the_report(quick_run: tuple[Path, int, str, str]) -> None:
    out, status, stdout, stderr = quick_run
    assert status == 0
    claims = json.loads((out / "claims.json").read_text("utf-8"))
    held = sum(c["holds"] for c in claims)
    assert f"{held} of {len(claims)} claims hold" in stdout
    assert "9/9" in stderr  # the progress bar
    table = (out / "claims.md").read_text("utf-8")
    assert table.count("\n| `") == len(claims)
    assert "(quick run;" in table


@pytest.mark.slow
@pytest.mark.parametrize("experiment_id", list(EXPERIMENTS))
def test_each_experiment_gives_a_figure_and_a_finite_claim(
    quick_run: tuple[Path, int, str, str], experiment_id: str
) -> None:
    out = quick_run[0]
    assert (out / f"{experiment_id}.png").read_bytes().startswith(PNG_SIGNATURE)
    claims = [c for c in json.loads((out / "claims.json").read_text("utf-8"))
              if c["id"] == experiment_id]
    assert claims
    for claim in claims:
        assert set(claim) == {"id", "claim", "metric", "value", "threshold", "op", "holds"}
        assert math.isfinite(claim["value"]) and isinstance(claim["holds"], bool)


@pytest.mark.slow
@pytest.mark.parametrize("experiment_id", list(ON_IMAGENET))
def test_trained_network_experiments_also_run_on_efficientnet(
    quick_run: tuple[Path, int, str, str], experiment_id: str
) -> None:
    out = quick_run[0]
    key = f"{experiment_id}-efficientnet_lite0"
    assert (out / f"{key}.png").read_bytes().startswith(PNG_SIGNATURE)
    runs = json.loads((out / "metrics.json").read_text("utf-8"))
    assert runs[experiment_id]["model"] == "shapes_cnn"
    run = runs[key]
    assert run["model"] == "efficientnet_lite0" and "sample photos" in run["setting"]
    assert run["claims"] and all(c["id"] == experiment_id and math.isfinite(c["value"])
                                 for c in run["claims"])
    table = (out / "claims.md").read_text("utf-8")
    assert table.startswith("| model | id | claim |")
    for model, claims in (("efficientnet_lite0", run["claims"]),
                          ("shapes_cnn", runs[experiment_id]["claims"])):
        rows = [line for line in table.splitlines()
                if line.startswith(f"| `{model}` | `{experiment_id}` |")]
        assert len(rows) == len(claims)
        assert all(row.endswith(("| yes |", "| **no** |")) for row in rows)


def test_only_runs_the_chosen_experiments(tmp_path: Path) -> None:
    assert main(["reproduce", "--out", str(tmp_path), "--quick", "--only", "fcn"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "claims.json", "claims.md", "fcn.png", "metrics.json"]
    metrics = json.loads((tmp_path / "metrics.json").read_text("utf-8"))
    assert set(metrics) == {"fcn"}
    assert set(metrics["fcn"]["metrics"]) == {"CNN", "FCN"}


def test_an_unknown_id_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["reproduce", "--out", str(tmp_path), "--only", "random_cnn,nope"])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert "unknown experiment id(s) 'nope'" in error and "partial_training" in error
    assert not any(tmp_path.iterdir())


def test_the_help_names_every_experiment_id(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    for experiment in [*EXPERIMENTS, *BEYOND]:
        assert experiment in help_text


def test_an_unwritable_output_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["reproduce", "--out", str(blocker / "results"), "--quick"]) == 2
    assert "cannot write to the output folder" in capsys.readouterr().err


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2
    assert "reproduce" in capsys.readouterr().err
