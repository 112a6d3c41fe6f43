"""The annotation page in real headless Chromium (Debian's, driven by Playwright), on generated videos."""

from __future__ import annotations

import os
import shutil

import pytest

from cli_helpers import AnnotateServer, run
from conftest import PROJECT, SHARED
from media import write_video

CHROMIUM = os.environ.get("GLANCEVAD_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = PROJECT / "runs" / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required"]

if not shutil.which(CHROMIUM):
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (run as root)")
    pytest.skip(f"{CHROMIUM} not installed (make browser)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def page(tmp_path, request):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "alpha.webm", 60, codec="libvpx")
    write_video(videos / "beta.webm", 30, codec="libvpx")
    if getattr(request, "param", None) == "sample":  # a real clip in a format browsers do not play
        shutil.copy(SHARED / "data" / "samples" / "shanghaitech_01_002.avi", videos)
    db = tmp_path / "glances.sqlite"
    with AnnotateServer(videos, db) as server, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        tab.server, tab.db = server, db
        yield tab
        browser.close()


def frame_is(page, frame: int, fps: float = 25) -> None:
    """The page shows ``frame`` and the player's media time really maps to it."""
    page.wait_for_function(
        """([f, fps]) => document.getElementById('frame').textContent === String(f)
                  && Math.floor(document.getElementById('player').currentTime * fps + 1e-6) === f""",
        arg=[frame, fps],
    )


def glance_frames(page) -> list[int]:
    return [int(x) for x in page.locator("#glances li").evaluate_all("items => items.map(i => i.dataset.frame)")]


def open_video(page, video_id: str, fps: float = 25) -> None:
    page.locator(f"#videos li[data-id='{video_id}']").click()
    page.wait_for_function("(v) => document.getElementById('title').textContent === v", arg=video_id)
    page.wait_for_function("() => document.getElementById('player').readyState >= 1")
    frame_is(page, 0, fps)


def test_annotate_with_the_keyboard_then_reload_and_export(page, tmp_path):
    page.goto(page.server.url)
    page.locator("#who-name").fill("alice")
    page.locator("#who-form button").click()
    page.wait_for_function("() => document.querySelectorAll('#videos li').length === 2")
    open_video(page, "alpha")
    assert "floor(t × fps" in page.locator("#mapping").text_content()

    for _ in range(5):
        page.keyboard.press("ArrowRight")
    frame_is(page, 5)
    page.keyboard.press("g")
    page.wait_for_function("() => document.querySelectorAll('#glances li').length === 1")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    frame_is(page, 25)
    page.keyboard.press("g")
    page.keyboard.press("Shift+ArrowRight")
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowLeft")
    frame_is(page, 38)
    page.keyboard.press("g")
    page.wait_for_function("() => document.querySelectorAll('#glances li').length === 3")
    assert glance_frames(page) == [5, 25, 38]
    assert page.locator("#timeline .tick").count() == 3

    page.keyboard.press("p")  # previous glance before frame 38: 25, selected and sought
    frame_is(page, 25)
    assert page.locator("#glances li.selected").get_attribute("data-frame") == "25"
    page.keyboard.press("Delete")
    page.wait_for_function("() => document.querySelectorAll('#glances li').length === 2")

    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()

    page.reload()
    page.wait_for_function("() => document.querySelectorAll('#videos li').length === 2")
    assert page.locator("#annotator-name").text_content() == "alice"
    open_video(page, "alpha")
    page.wait_for_function("() => document.querySelectorAll('#glances li').length === 2")
    assert glance_frames(page) == [5, 38]
    page.locator("#timeline .tick").nth(1).click()  # a tick seeks to its glance
    frame_is(page, 38)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "annotate_page.png"), full_page=True)

    exported = page.request.get(f"{page.server.url}/api/export?include_proposed=true").text()
    assert exported == "video-id,glance\nalpha,5\nalpha,38\n"
    out = tmp_path / "export.csv"
    run("annotate", "export", "--db", page.db, "--out", out, "--include-proposed")
    assert out.read_text() == exported

    page.keyboard.press("Control+z")  # undo the delete: 25 is back
    page.wait_for_function("() => document.querySelectorAll('#glances li').length === 3")
    page.keyboard.press("Control+Enter")  # done, and the next video opens
    page.wait_for_function("() => document.getElementById('title').textContent === 'beta'")
    assert page.locator("#videos li[data-id='alpha'] .badge").text_content() == "done"


def test_review_mode_shows_every_annotator(page):
    base = page.server.url
    for name, frames in (("ann", [10, 40]), ("bob", [12])):
        page.request.post(f"{base}/api/annotators", data={"name": name})
        for frame in frames:
            page.request.post(f"{base}/api/videos/alpha/glances", data={"annotator": name, "frame": frame})
    page.goto(base)
    page.evaluate("localStorage.setItem('glancevad.annotator', 'rev')")
    page.request.post(f"{base}/api/annotators", data={"name": "rev"})
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('#videos li').length === 2")
    open_video(page, "alpha")
    page.locator("input[name=mode][value=review]").check()
    page.wait_for_function("() => document.querySelectorAll('.review-column').length === 2")
    assert "possible duplicates" in page.locator("#review-flags").text_content()
    page.locator(".review-list li span").first.click()  # ann's glance at 10: selected and sought
    frame_is(page, 10)
    page.keyboard.press("a")  # accept the selected glance
    page.wait_for_function("() => document.querySelector('.review-list li .status-accepted') !== null")
    page.locator(".review-list li").last.locator("button[data-review=rejected]").click()  # bob's 12
    page.wait_for_function("() => document.querySelector('.review-list li .status-rejected') !== null")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("g")  # a reviewer's glance is accepted at once
    page.wait_for_function("() => document.querySelectorAll('.review-column').length === 3")
    page.screenshot(path=str(ARTIFACTS / "annotate_review.png"), full_page=True)
    exported = page.request.get(f"{base}/api/export").text()
    assert exported.splitlines()[1:] == ["alpha,10", "alpha,11"]  # accepted only: bob's rejected, 40 unreviewed


@pytest.mark.parametrize("page", ["sample"], indirect=True)
def test_real_clip_plays_through_its_browser_copy(page):
    """The ShanghaiTech sample is MPEG-1 in AVI: the page plays an H.264 copy, frame for frame."""
    page.goto(page.server.url)
    page.locator("#who-name").fill("alice")
    page.locator("#who-form button").click()
    page.wait_for_function("() => document.querySelectorAll('#videos li').length === 3")
    open_video(page, "shanghaitech_01_002", fps=24)
    assert page.locator("#frames").text_content() == "481"
    assert "H.264 copy of this mpeg1video file" in page.locator("#mapping").text_content()
    page.keyboard.press("End")  # not a shortcut: nothing happens
    for _ in range(3):
        page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("ArrowRight")
    frame_is(page, 31, fps=24)
    page.keyboard.press("g")
    page.wait_for_function("() => document.querySelectorAll('#glances li').length === 1")
    assert page.evaluate("document.getElementById('player').error") is None
    page.screenshot(path=str(ARTIFACTS / "annotate_sample_clip.png"), full_page=True)
    exported = page.request.get(f"{page.server.url}/api/export?include_proposed=true").text()
    assert exported == "video-id,glance\nshanghaitech_01_002,31\n"
