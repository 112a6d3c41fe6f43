"""The model-assisted annotation page in real headless Chromium: the score curve, jump-to-peak keys, the
"most likely unglanced anomaly first" order, and a video whose extraction fails."""

from __future__ import annotations

import numpy as np
import pytest
from test_annotate_page import frame_is, open_video

from assist_helpers import profile_features, write_profile_checkpoint
from browser import ARTIFACTS, CHROMIUM, FLAGS
from cli_helpers import AnnotateServer
from media import write_video

sync_api = pytest.importorskip("playwright.sync_api")

# gamma: 150 frames at 25 fps, 10 snippets; snippets 1-2 above the threshold (peak: frame 32), snippet 6 (frame 96)
GAMMA = [0, 0.7, 1.0, 0, 0, 0, 0.9, 0, 0, 0]


@pytest.fixture
def page(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "gamma.webm", 150, codec="libvpx")
    write_video(videos / "aaa-short.webm", 10, codec="libvpx")  # shorter than one snippet: extraction fails
    features = tmp_path / "features"
    features.mkdir()
    np.save(features / "gamma.npy", profile_features(GAMMA, dim=1024))
    checkpoint = write_profile_checkpoint(tmp_path / "best.pt", dim=1024)
    db = tmp_path / "glances.sqlite"
    with AnnotateServer(videos, db, "--checkpoint", str(checkpoint), "--features", str(features)) as server, \
            sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        tab = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
        tab.set_default_timeout(15_000)
        tab.goto(server.url)
        tab.locator("#who-name").fill("alice")
        tab.locator("#who-form button").click()
        tab.wait_for_function("() => document.querySelectorAll('#videos li').length === 2")
        yield tab
        browser.close()


def status_says(page, text: str) -> None:
    page.wait_for_function("(t) => document.getElementById('status').textContent.includes(t)", arg=text)


def canvas_alpha(page, frame: int, height_share: float) -> int:
    """The alpha of the curve canvas at the x of ``frame`` and ``height_share`` of its height from the top."""
    return page.evaluate(
        """([frame, share]) => {
             const c = document.getElementById('curve');
             const x = Math.round(frame / 149 * c.width), y = Math.round(share * c.height);
             return c.getContext('2d').getImageData(x, y, 1, 1).data[3];
           }""", [frame, height_share])


def test_curve_and_jump_to_peak_keys(page):
    open_video(page, "gamma")
    page.wait_for_function("() => document.getElementById('curve').dataset.points === '10'")
    curve = page.locator("#curve")
    assert curve.get_attribute("data-peaks") == "32,96"
    assert curve.get_attribute("data-unglanced") == "32,96"
    # shaded between the threshold line (half height) and the curve where the score is above it, not elsewhere
    assert canvas_alpha(page, 40, 0.3) > 0 and canvas_alpha(page, 100, 0.3) > 0
    assert canvas_alpha(page, 70, 0.3) == 0 and canvas_alpha(page, 130, 0.3) == 0
    assert page.locator("#score").text_content() == "0.007"
    assert "2 peak(s)" in page.locator("#model-status").text_content()

    page.keyboard.press(".")
    frame_is(page, 32)
    assert page.locator("#score").text_content() == "0.993"
    page.keyboard.press(".")
    frame_is(page, 96)
    page.keyboard.press(".")
    status_says(page, "no unglanced peak after frame 96")
    page.keyboard.press(",")
    frame_is(page, 32)
    page.keyboard.press("g")  # the first peak gets its glance: only 96 is left
    page.keyboard.press("ArrowRight")
    page.keyboard.press(",")  # pressed while the glance may still be saving: the jump waits for it
    status_says(page, "no unglanced peak before frame 33")
    frame_is(page, 33)
    assert curve.get_attribute("data-unglanced") == "96"
    page.keyboard.press(".")
    frame_is(page, 96)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "annotate-assisted.png"))

    # "most likely unglanced anomaly first": gamma (a peak left) before the video without a curve
    names = "() => [...document.querySelectorAll('#videos li')].map(li => li.dataset.id).join(',')"
    assert page.evaluate(names) == "aaa-short,gamma"
    page.locator("#order").select_option("unglanced")
    page.wait_for_function(f"() => ({names})() === 'gamma,aaa-short'")


def test_a_video_that_fails_to_extract_works_without_a_curve(page):
    open_video(page, "aaa-short")
    page.wait_for_function(
        "() => document.getElementById('model-status').textContent.includes('no score curve for this video')")
    assert "fewer than one snippet of 16 frames" in page.locator("#model-status").text_content()
    assert page.locator("#curve").get_attribute("data-points") == "0"
    page.keyboard.press("ArrowRight")
    frame_is(page, 1)
    page.keyboard.press(".")
    status_says(page, "no score curve for this video")
    page.keyboard.press("g")
    page.wait_for_function("() => document.querySelectorAll('#glances li').length === 1")
