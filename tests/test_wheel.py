"""The wheel on a clean venv: what a user gets from ``pip install backprop-lens`` alone.

The wheel and the sdist are built from this checkout (front ends already built by ``make``), and
a wheel is built again from the sdist with no Node on ``PATH``. The wheel is then installed,
with its ``lab`` extra, into a new venv whose ``PATH`` has no Node either, and checked: the lab
extension is listed enabled and OK, the package finds its widget bundle, the CLI runs, and a
JupyterLab started from that venv shows the launcher card.

torch, torchvision and the CUDA libraries they pull in are about 4 GB, and their installation is
not what this test is about: the new venv sees this venv's copies through a ``.pth`` file naming
a folder of links to them (and only them), so that pip counts them as installed. Every other
package is installed into the new venv by pip from the wheel's own requirements.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser.harness import (
    PAGE_TIMEOUT_S,
    JupyterServer,
    guarded_page,
)
from playwright.sync_api import Browser, expect

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[1]
SHARE = "share/jupyter/labextensions/backprop-lens"
#: The packages reused from this venv rather than installed (see the module docstring).
TORCH_STACK = re.compile(r"^(torch|torchgen|functorch|torchvision|triton|nvidia|cuda)([-_.].*)?$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(command: list[str | Path], *, env: dict[str, str], cwd: Path,
        timeout_s: float = 600) -> str:
    """Run ``command``; its stdout and stderr, or a failure that shows them."""
    began = time.monotonic()
    done = subprocess.run([str(part) for part in command], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout_s, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{output[-4000:]}"
    print(f"{Path(str(command[0])).name} {command[1]}: {time.monotonic() - began:.1f} s")
    return output


def without_node(bin_dir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment whose ``PATH`` is ``bin_dir`` alone (no Node), outside any venv."""
    env = dict(os.environ if base is None else base)
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = str(bin_dir)
    assert shutil.which("node", path=env["PATH"]) is None
    return env


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel built from this checkout, and the wheel built from the sdist."""
    out = tmp_path_factory.mktemp("dist")
    venv_bin = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    # No isolation: this venv has the build backend; the front ends are built (make does it).
    run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
         "--outdir", out, ROOT], env=env, cwd=ROOT)
    sdist = next(out.glob("backprop_lens-*.tar.gz"))
    wheel = next(out.glob("backprop_lens-*.whl"))
    again = tmp_path_factory.mktemp("from-sdist")
    run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
         "--wheel-dir", again, sdist], env=without_node(venv_bin), cwd=again)
    return {"sdist": sdist, "wheel": wheel, "from_sdist": next(again.glob("*.whl"))}


@pytest.fixture(scope="module")
def clean_venv(dists: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel and its ``lab`` extra installed (torch reused, see above)."""
    home = tmp_path_factory.mktemp("clean")
    venv = home / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    run([base_python, "-m", "venv", venv], env=dict(os.environ), cwd=home)
    torch_site = home / "torch-site"
    torch_site.mkdir()
    torch_spec = importlib.util.find_spec("torch")
    assert torch_spec is not None and torch_spec.origin is not None
    site_packages = Path(torch_spec.origin).parents[1]
    for entry in site_packages.iterdir():
        if TORCH_STACK.match(entry.name):
            (torch_site / entry.name).symlink_to(entry)
    (next((venv / "lib").glob("python3*")) / "site-packages" / "_torch_stack.pth").write_text(
        f"{torch_site}\n")
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet",
         f"{dists['wheel']}[lab]"], env=without_node(venv / "bin"), cwd=home, timeout_s=900)
    return venv


def clean_env(venv: Path, tmp_path: Path) -> dict[str, str]:
    """The clean venv's environment, with user-level Jupyter folders of its own (empty), so that
    nothing but the venv's own ``share/jupyter`` can provide an extension."""
    env = without_node(venv / "bin")
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_DATA_DIR=str(tmp_path / "data"))
    return env


def test_sdist_and_wheels_carry_the_built_front_ends(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames()}
    for built in ("backprop_lens/static/widget.js", "backprop_lens/labextension/package.json",
                  "js/labextension/src/index.ts", "js/labextension/install.json"):
        assert built in names, built
    listings = []
    for wheel in (dists["wheel"], dists["from_sdist"]):
        with zipfile.ZipFile(wheel) as archive:
            listing = sorted(archive.namelist())
        data = [name.split(".data/data/", 1)[1] for name in listing if ".data/data/" in name]
        assert f"{SHARE}/install.json" in data
        assert f"{SHARE}/package.json" in data
        assert f"{SHARE}/schemas/backprop-lens/plugin.json" in data
        assert any(name.startswith(f"{SHARE}/static/remoteEntry.") for name in data)
        assert "backprop_lens/static/widget.js" in listing
        listings.append(listing)
    # Built from the sdist with no Node: the same files.
    assert listings[0] == listings[1]


def test_labextension_list_reports_backprop_lens_enabled_and_ok(
    clean_venv: Path, tmp_path: Path,
) -> None:
    output = ANSI.sub("", run([clean_venv / "bin" / "jupyter", "labextension", "list"],
                              env=clean_env(clean_venv, tmp_path), cwd=tmp_path))
    # Listed under the clean venv's own share/jupyter, installed by pip (install.json).
    section = output.split(f"{clean_venv}/share/jupyter/labextensions", 1)[1]
    listed = r"backprop-lens v0\.1\.0 enabled OK \(python, backprop-lens\)"
    assert re.search(listed, section), output


def test_the_installed_package_finds_its_front_end_bundle(clean_venv: Path, tmp_path: Path) -> None:
    code = ("import backprop_lens\n"
            "from backprop_lens.widget.explorer import static_path\n"
            "print(backprop_lens.__file__)\n"
            "print(static_path('widget.js'))\n")
    lines = run([clean_venv / "bin" / "python", "-c", code], env=clean_env(clean_venv, tmp_path),
                cwd=tmp_path).splitlines()
    for line in lines[-2:]:
        assert line.startswith(str(clean_venv)), lines
    assert Path(lines[-1]).stat().st_size > 1000


def test_the_cli_runs(clean_venv: Path, tmp_path: Path) -> None:
    output = run([clean_venv / "bin" / "backprop-lens", "--help"],
                 env=clean_env(clean_venv, tmp_path), cwd=tmp_path)
    assert "usage: backprop-lens" in output


@pytest.fixture()
def clean_lab(
    clean_venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> Iterator[JupyterServer]:
    """A JupyterLab server of the clean venv, started by the browser harness: the harness runs
    ``sys.executable -m jupyterlab`` with ``os.environ``, so both point at the clean venv while
    it starts (and only then)."""
    with monkeypatch.context() as patch:
        patch.setattr(sys, "executable", str(clean_venv / "bin" / "python"))
        for name, value in clean_env(clean_venv, tmp_path).items():
            patch.setenv(name, value)
        patch.delenv("VIRTUAL_ENV", raising=False)
        server = JupyterServer.start("lab", tmp_path / "lab")
    try:
        yield server
    finally:
        server.stop()


def test_jupyterlab_of_the_clean_venv_shows_the_launcher_card(
    clean_lab: JupyterServer, browser: Browser,
) -> None:
    with guarded_page(browser) as guarded:
        page = guarded.page
        page.goto(f"{clean_lab.base_url}/lab?token={clean_lab.token}",
                  wait_until="domcontentloaded")
        page.wait_for_function("() => window.jupyterapp !== undefined",
                               timeout=PAGE_TIMEOUT_S * 1000)
        page.evaluate("() => window.jupyterapp.restored")
        card = page.locator('.jp-Launcher .jp-LauncherCard:has-text("Backprop Lens")')
        expect(card).to_be_visible()
        assert page.evaluate(
            "() => window.jupyterapp.commands.hasCommand('backprop-lens:open-image')")
        assert guarded.blocked == [], f"requests left localhost: {guarded.blocked}"
