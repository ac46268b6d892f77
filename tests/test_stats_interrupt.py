"""Ctrl-C in the middle of `backprop-lens stats`: what was computed is kept, a rerun resumes,
and every image ends up in the results exactly once."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

N = 40
COMMAND = ["-m", "backprop_lens.cli", "stats", "--model", "shapes_cnn", "--images",
           f"shapes:{N}:5", "--methods", "saliency,deconvnet", "--targets", "top2",
           "--batch-size", "4"]


def _wait_for_progress(process: subprocess.Popen[bytes], seen: list[str], least: int) -> None:
    """Read the progress bar from stderr until it shows at least ``least`` images done."""
    assert process.stderr is not None
    text = ""
    while process.poll() is None:
        text += process.stderr.read1(4096).decode("utf-8", "replace")  # type: ignore[attr-defined]
        done = [int(n) for n in re.findall(rf"(\d+)/{N}", text)]
        if done and max(done) >= least:
            break
    seen.append(text)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ctrl_c_keeps_the_rows_and_a_rerun_completes_them(tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    process = subprocess.Popen([sys.executable, *COMMAND, "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: list[str] = []
    reader = threading.Thread(target=_wait_for_progress, args=(process, seen, 8))
    reader.start()
    reader.join(timeout=240)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr.decode()
    assert "interrupted" in stderr.decode() and "resume" in stderr.decode()

    kept = pq.read_table(out)
    images = kept.column("image").to_pylist()
    assert 8 <= len(set(images)) < N
    assert len(images) == 2 * len(set(images))  # both methods of every image kept

    start = time.perf_counter()
    rerun = subprocess.run([sys.executable, *COMMAND, "--out", str(out), "--no-progress"],
                           capture_output=True, check=True, timeout=240)
    assert f"{N} images measured" in rerun.stdout.decode(), time.perf_counter() - start
    rows = pq.read_table(out)
    keys = list(zip(rows.column("image").to_pylist(), rows.column("method").to_pylist(),
                    strict=True))
    assert len(keys) == len(set(keys)) == 2 * N
