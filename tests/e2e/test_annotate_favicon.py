"""The annotation page in Chromium loads without a single failed request (the favicon included)."""

from __future__ import annotations

import pytest

from browser import CHROMIUM, FLAGS, require_chromium
from cli_helpers import AnnotateServer
from media import write_video

require_chromium()
sync_api = pytest.importorskip("playwright.sync_api")


def test_the_page_loads_with_no_console_error_and_its_favicon(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "alpha.webm", 30, codec="libvpx")
    with AnnotateServer(videos, tmp_path / "g.sqlite") as server, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page()
        errors, failed = [], []
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
        page.goto(server.url + "/")
        page.wait_for_load_state("networkidle")
        icon = page.evaluate("document.querySelector('link[rel=icon]').href")
        assert page.request.get(icon).status == 200
        browser.close()
    assert errors == [] and failed == []
