"""Shared fixtures."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from browser.harness import ARTIFACTS, CHROMIUM, launch_chromium
from playwright.sync_api import Browser, sync_playwright


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any attempt to open a network connection: models and data must work offline."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium for the session, for every test that drives a page. One Playwright per
    process: its sync API refuses to start a second while the first runs. Failure screenshots of
    an earlier run are removed, so that ``browser/artifacts/FAILED-*.png`` are this run's."""
    if not CHROMIUM.is_file():
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (make setup installs it)")
    for stale in ARTIFACTS.glob("FAILED-*.png"):
        stale.unlink()
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()
