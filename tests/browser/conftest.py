"""Fixtures of the browser tests: one real server per kind for the session, one Chromium, pages
that cannot reach the network (Chromium itself, one per session, is ``browser`` of
``tests/conftest.py``), and a screenshot of the page when a test fails.

Modules whose tests share one Explorer page (their module-scoped ``explorer`` fixture) get the
failure screenshot of that page with ``pytest.mark.usefixtures("explorer_screenshot_on_failure")``.

Every test that asks for ``jupyter_server`` runs twice, against JupyterLab and Notebook 7. The
fixture is session-scoped and parametrized, so pytest orders the tests by kind and keeps only one
server alive at a time.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack
from typing import Protocol

import pytest
from browser.harness import (
    ARTIFACTS,
    PHASE_REPORTS,
    SERVER_KINDS,
    GuardedPage,
    JupyterServer,
    NotebookPage,
    guarded_page,
    open_notebook,
    screenshot_if_failed,
)
from playwright.sync_api import Browser


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None],
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so that fixtures can tell whether the test failed."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session", params=SERVER_KINDS, ids=list(SERVER_KINDS))
def jupyter_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[JupyterServer]:
    """A real server of one kind, for the whole session; its log lands in
    ``artifacts/server-<kind>.log`` when it stops."""
    kind = request.param
    server = JupyterServer.start(kind, tmp_path_factory.mktemp(f"jupyter-{kind}"))
    print(f"\n{kind} server up in {server.started_in_s:.1f} s at {server.base_url}")
    try:
        yield server
    finally:
        server.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(server.log_path, ARTIFACTS / f"server-{kind}.log")


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[GuardedPage]:
    """A fresh page for one test (screenshot on failure); ``.blocked`` lists what it tried to
    fetch from outside this machine."""
    with guarded_page(browser) as guarded:
        yield guarded
        screenshot_if_failed(request, guarded)


@pytest.fixture
def notebook_factory(
    request: pytest.FixtureRequest, jupyter_server: JupyterServer, page: GuardedPage,
) -> Iterator[Callable[[str, list[str]], NotebookPage]]:
    """``open(name, cells)``: write a notebook, open it in this test's page, wait for its kernel.
    The kernels end with the test, after the failure screenshot (which should show them alive)."""
    with ExitStack() as stack:

        def open_(name: str, cells: list[str]) -> NotebookPage:
            began = time.monotonic()
            notebook = stack.enter_context(open_notebook(jupyter_server, page, name, cells))
            print(f"{name} open, kernel idle in {time.monotonic() - began:.1f} s")
            return notebook

        yield open_
        screenshot_if_failed(request, page)


class SharedPage(Protocol):
    """A page that a module's tests share (``test_explorer_browser.ExplorerPage``)."""

    @property
    def guarded(self) -> GuardedPage: ...


@pytest.fixture
def explorer_screenshot_on_failure(
    request: pytest.FixtureRequest, explorer: SharedPage,
) -> Iterator[None]:
    """A screenshot of the module's shared ``explorer`` page when the test fails."""
    yield
    screenshot_if_failed(request, explorer.guarded)
