"""Debian's Chromium for the browser tests: where it is, how it starts, where screenshots go."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import PROJECT

CHROMIUM = os.environ.get("GLANCEVAD_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = PROJECT / "runs" / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required"]


def require_chromium() -> None:
    """Skip the calling module without Chromium; in CI a missing browser is an error."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            raise RuntimeError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (run as root)")
        pytest.skip(f"{CHROMIUM} not installed (make browser)", allow_module_level=True)


def sign_in(browser, url: str, name: str, *, viewport: tuple[int, int] = (1280, 860), timeout_ms: int = 15_000):
    """A new page, in its own context, on the annotator at ``url`` signed in as ``name``."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.set_default_timeout(timeout_ms)
    page.goto(url)
    page.evaluate("(n) => localStorage.setItem('glancevad.annotator', n)", name)
    page.reload()
    return page
