"""The annotation page in real headless Chromium (Debian's, driven by Playwright), on generated videos."""

from __future__ import annotations

import random
import shutil
import time
from datetime import datetime, timedelta
from fractions import Fraction

import pytest

from browser import ARTIFACTS, CHROMIUM, FLAGS, require_chromium, sign_in
from cli_helpers import AnnotateServer, run
from conftest import SAMPLE_CLIP
from glancevad.annotate.store import GlanceStore
from media import BARCODE_BITS, BARCODE_BLOCK, write_numbered_video, write_video

require_chromium()
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def page(tmp_path, request):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "alpha.webm", 60, codec="libvpx")
    write_video(videos / "beta.webm", 30, codec="libvpx")
    if getattr(request, "param", None) == "sample":  # a real clip in a format browsers do not play
        shutil.copy(SAMPLE_CLIP, videos)
    db = tmp_path / "glances.sqlite"
    with AnnotateServer(videos, db, "--reviewer", "rev") as server, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        tab.server, tab.db = server, db
        yield tab
        browser.close()


SHOWN = """() => { const p = document.getElementById('player');
  return {frame: document.getElementById('frame').textContent, seeking: p.seeking, time: p.currentTime,
          ready: p.readyState, paused: p.paused, hash: location.hash}; }"""


def frame_is(page, frame: int, fps: float = 25) -> None:
    """The page shows ``frame`` and the player's media time lies inside that frame's display interval."""
    try:
        page.wait_for_function(
            """([f, fps]) => {
                 const t = document.getElementById('player').currentTime;
                 return document.getElementById('frame').textContent === String(f)
                   && !document.getElementById('player').seeking && t >= f / fps - 1e-4 && t < (f + 1) / fps;
               }""",
            arg=[frame, fps],
        )
    except sync_api.TimeoutError:
        raise AssertionError(f"frame {frame} not shown; the page shows {page.evaluate(SHOWN)}") from None


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
    assert "mediaTime" in page.locator("#help-mapping").text_content()

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
    page.wait_for_function("() => location.hash === '#video=alpha&frame=25'")  # the address keeps what is shown

    page.reload()
    page.wait_for_function("() => document.querySelectorAll('#videos li').length === 2")
    assert page.locator("#annotator-name").text_content() == "alice"
    # the reload reopens the video and frame shown before it; a click on the open video keeps them
    page.wait_for_function("() => document.getElementById('title').textContent === 'alpha'")
    frame_is(page, 25)
    page.locator("#videos li[data-id='alpha']").click()
    frame_is(page, 25)
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
    colours = page.locator("#timeline .tick").evaluate_all(
        "ticks => Object.fromEntries(ticks.map(t => [t.dataset.annotator, t.style.backgroundColor]))")
    assert set(colours) == {"ann", "bob"} and colours["ann"] != colours["bob"]  # one colour per annotator
    page.locator(".review-list li span").first.click()  # ann's glance at 10: selected and sought
    frame_is(page, 10)
    page.keyboard.press("a")  # accept the selected glance
    page.wait_for_function("() => document.querySelector('.review-list li .status-accepted') !== null")
    page.locator(".review-list li").last.locator("button[data-review=rejected]").click()  # bob's 12
    page.wait_for_function("() => document.querySelector('.review-list li .status-rejected') !== null")
    page.keyboard.press("f")  # A moved on to the next unreviewed glance: back to frame 11
    page.keyboard.type("11")
    page.keyboard.press("Enter")
    frame_is(page, 11)
    page.keyboard.press("g")  # a reviewer's glance is accepted at once
    page.wait_for_function("() => document.querySelectorAll('.review-column').length === 3")
    page.screenshot(path=str(ARTIFACTS / "annotate_review.png"), full_page=True)
    exported = page.request.get(f"{base}/api/export").text()
    assert exported.splitlines()[1:] == ["alpha,10", "alpha,11"]  # accepted only: bob's rejected, 40 unreviewed
    page.keyboard.press("k")  # keep rev's 11, reject its duplicate (ann's 10)
    page.wait_for_function("() => !document.getElementById('review-flags').textContent.includes('duplicates')")
    assert page.request.get(f"{base}/api/export").text().splitlines()[1:] == ["alpha,11"]
    page.keyboard.press("q")  # next video needing review: alpha again (ann's 40 is unreviewed)
    status_says(page, "alpha needs review: 1 unreviewed")


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


RATES = {"23.976": Fraction(24000, 1001), "24": Fraction(24), "25": Fraction(25), "29.97": Fraction(30000, 1001),
         "30": Fraction(30), "50": Fraction(50), "59.94": Fraction(60000, 1001)}
NUMBERED_FRAMES = 90
OPERATIONS = {"step": 25, "seek": 20, "pause": 15}  # per video, in random order

# The bar code of tests/media.py read back from the picture the player shows, drawn onto a canvas.
READ_PICTURE = """() => {
  const video = document.getElementById('player');
  const canvas = window.__probe || (window.__probe = document.createElement('canvas'));
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(video, 0, 0);
  let number = 0;
  for (let bit = 0; bit < BITS; bit++) {
    const [r, g, b] = context.getImageData(8 + BLOCK * bit + 8, canvas.height / 2, 1, 1).data;
    if (r + g + b > 3 * 128) number |= 1 << bit;
  }
  return number;
}""".replace("BITS", str(BARCODE_BITS)).replace("BLOCK", str(BARCODE_BLOCK))

SETTLED = """() => { const v = document.getElementById('player');
  return v.paused && !v.seeking && v.readyState >= 2 && document.getElementById('play').textContent === 'play'; }"""


def reachable(seeks: list[float | None], frame: int, direction: int) -> int:
    """The frame the page goes to for ``frame``: the nearest one a seek shows, ``direction`` first."""
    for d in (direction, -direction):
        g = frame
        while 0 <= g < len(seeks):
            if seeks[g] is not None:
                return g
            g += d
    return frame


def shown_frames(page, wait_s: float = 2.0) -> tuple[int, int]:
    """(number in the picture, counter) once they agree, or as they are after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        picture, counter = page.evaluate(f"[({READ_PICTURE})(), Number(document.getElementById('frame').textContent)]")
        if picture == counter or time.monotonic() > deadline:
            return picture, counter
        page.wait_for_timeout(50)


def numbered_videos(folder) -> dict[str, str]:
    """Bar-coded H.264 videos: every rate of the issue, a variable rate and a first frame stamped at 2 s."""
    ids = {}
    for name, rate in RATES.items():
        ids[f"fps-{name.replace('.', '_')}"] = name
        write_numbered_video(folder / f"fps-{name.replace('.', '_')}.mp4", rate, NUMBERED_FRAMES)
    rng = random.Random(7)
    times = [0.0]
    for _ in range(NUMBERED_FRAMES - 1):
        times.append(round(times[-1] + rng.choice([0.017, 0.033, 0.040, 0.050, 0.083]), 3))
    write_numbered_video(folder / "vfr.mp4", Fraction(30), NUMBERED_FRAMES, times=times)
    write_numbered_video(folder / "starts-at-2s.mp4", Fraction(25), NUMBERED_FRAMES, start=2.0)
    return ids | {"vfr": "variable", "starts-at-2s": "25, first frame at 2.0 s"}


def _page_as_alice(playwright, url: str):
    """A fresh Chromium page on the annotator at ``url``, signed in as the annotator alice."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
    return sign_in(browser, url, "alice", timeout_ms=5_000)


@pytest.mark.slow
def test_counter_picture_and_glance_agree_at_every_frame_rate(tmp_path):
    """Steps, seeks (go to frame) and pauses in random order; after each, the frame counter, the
    number drawn in the picture and (after pauses) the stored glance are one and the same frame."""
    videos = tmp_path / "videos"
    videos.mkdir()
    labels = numbered_videos(videos)
    rng = random.Random(14)
    checked: dict[str, dict[str, int]] = {}
    with AnnotateServer(videos, tmp_path / "g.sqlite") as server, sync_api.sync_playwright() as playwright:
        page = _page_as_alice(playwright, server.url)
        page.wait_for_function("(n) => document.querySelectorAll('#videos li').length === n", arg=len(labels))
        for video_id in sorted(labels):
            page.locator(f"#videos li[data-id='{video_id}']").click()
            page.wait_for_function("(v) => document.getElementById('title').textContent === v", arg=video_id)
            page.wait_for_function(SETTLED)
            seeks = page.evaluate("app.video.seeks")  # None: a frame no seek can show (steps skip it)
            operations = [kind for kind, n in OPERATIONS.items() for _ in range(n)]
            rng.shuffle(operations)
            counts = dict.fromkeys(OPERATIONS, 0)
            for kind in operations:
                shown = int(page.locator("#frame").text_content())
                expected = None
                if kind == "step":
                    step = rng.choice([1, 1, 1, -1, -1, 10, -10])
                    arrow = "ArrowRight" if step > 0 else "ArrowLeft"
                    page.keyboard.press(("Shift+" if abs(step) == 10 else "") + arrow)
                    expected = reachable(seeks, max(0, min(NUMBERED_FRAMES - 1, shown + step)), 1 if step > 0 else -1)
                elif kind == "seek":
                    wanted = rng.randrange(NUMBERED_FRAMES)
                    expected = reachable(seeks, wanted, 1)
                    page.keyboard.press("f")
                    page.keyboard.type(str(wanted))
                    page.keyboard.press("Enter")
                else:
                    if shown > NUMBERED_FRAMES - 30:
                        page.keyboard.press("f")
                        page.keyboard.type(str(rng.randrange(NUMBERED_FRAMES - 30)))
                        page.keyboard.press("Enter")
                        page.wait_for_function(SETTLED)
                    page.keyboard.press("Space")
                    page.wait_for_function("() => !document.getElementById('player').paused")
                    page.wait_for_timeout(rng.randint(60, 300))
                    page.keyboard.press("Space")
                page.wait_for_function(SETTLED)
                picture, counter = shown_frames(page)
                assert counter == picture, (video_id, kind, counter, picture, expected)
                if expected is not None:
                    assert picture == expected, (video_id, kind, picture, expected)
                else:  # a pause: G stores the frame in the picture
                    page.keyboard.press("g")
                    page.wait_for_function("(f) => document.querySelector(`#glances li[data-frame='${f}']`)",
                                           arg=picture)
                counts[kind] += 1
            checked[video_id] = counts
        stored = {row["frame"] for vid in labels
                  for row in page.request.get(f"{server.url}/api/videos/{vid}/glances").json()}
        page.context.browser.close()
    assert stored and all(sum(c.values()) >= 50 for c in checked.values())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "annotate_frame_exactness.txt").write_text("".join(
        f"{labels[vid]:>24} fps: {sum(c.values())} frames checked ({c['step']} steps, {c['seek']} seeks,"
        f" {c['pause']} pauses)\n" for vid, c in sorted(checked.items())))


def test_every_frame_of_a_variable_rate_video_is_reachable_paused(tmp_path):
    """On the variable-rate bar-coded video, stepping forward, stepping back and go-to reach every frame:
    the picture, the counter and the glance stored by G are the same frame each time."""
    videos = tmp_path / "videos"
    videos.mkdir()
    numbered_videos(videos)
    for other in videos.iterdir():
        if other.name != "vfr.mp4":
            other.unlink()
    with AnnotateServer(videos, tmp_path / "g.sqlite") as server, sync_api.sync_playwright() as playwright:
        page = _page_as_alice(playwright, server.url)
        page.locator("#videos li[data-id='vfr']").click()
        page.wait_for_function(SETTLED)
        assert None not in page.evaluate("app.video.seeks")
        reached = {"step": set(), "back": set(), "go-to": set()}
        for frame in range(1, NUMBERED_FRAMES):  # → from the previous frame
            page.keyboard.press("ArrowRight")
            page.wait_for_function(SETTLED)
            assert shown_frames(page) == (frame, frame), ("step", frame)
            reached["step"].add(frame)
            if frame % 7 == 0:
                page.keyboard.press("g")
                page.wait_for_function("(f) => document.querySelector(`#glances li[data-frame='${f}']`)", arg=frame)
        for frame in range(NUMBERED_FRAMES - 2, -1, -1):  # ← from the next frame
            page.keyboard.press("ArrowLeft")
            page.wait_for_function(SETTLED)
            assert shown_frames(page) == (frame, frame), ("back", frame)
            reached["back"].add(frame)
        for frame in random.Random(3).sample(range(NUMBERED_FRAMES), 30):
            page.keyboard.press("f")
            page.keyboard.type(str(frame))
            page.keyboard.press("Enter")
            page.wait_for_function(SETTLED)
            assert shown_frames(page) == (frame, frame), ("go-to", frame)
            reached["go-to"].add(frame)
        stored = [g["frame"] for g in page.request.get(f"{server.url}/api/videos/vfr/glances").json()]
        page.context.browser.close()
    assert stored == list(range(7, NUMBERED_FRAMES, 7))
    assert reached["step"] | {0} == reached["back"] | {NUMBERED_FRAMES - 1} == set(range(NUMBERED_FRAMES))


def status_says(page, text: str) -> None:
    try:
        page.wait_for_function("(t) => document.getElementById('status').textContent.includes(t)", arg=text)
    except sync_api.TimeoutError:
        raise AssertionError(f"the page says {page.locator('#status').text_content()!r}, not {text!r}") from None


def test_controls_annotators_expect(page):
    page.goto(page.server.url)
    page.locator("#who-name").fill("alice")
    page.locator("#who-form button").click()
    page.wait_for_function("() => document.querySelectorAll('#videos li').length === 2")
    assert page.locator("#progress").text_content() == "0 of 2 done"
    open_video(page, "alpha")
    page.locator("input[name=mode][value=review]").click()  # the switch never keeps the keyboard
    page.keyboard.press("ArrowRight")
    frame_is(page, 1)
    assert page.locator("input[name=mode][value=review]").is_checked()
    page.locator("input[name=mode][value=annotate]").click()
    page.locator("#state-filter").select_option("todo")
    page.keyboard.press("ArrowRight")
    frame_is(page, 2)
    page.locator("#filter").click()
    page.keyboard.type("a")  # typed into the filter, not a shortcut
    page.keyboard.press("Enter")  # gives the keys back
    page.keyboard.press("ArrowRight")
    frame_is(page, 3)
    assert page.locator("#filter").input_value() == "a"
    page.locator("#filter").fill("")
    page.locator("#filter").press("Enter")
    page.locator("#state-filter").select_option("")

    page.keyboard.press("]")
    page.keyboard.press("]")
    assert page.evaluate("document.getElementById('player').playbackRate") == 2
    for _ in range(5):
        page.keyboard.press("[")
    assert page.evaluate("document.getElementById('player').playbackRate") == 0.25
    assert page.locator("#speed").text_content() == "0.25×"

    page.keyboard.press("f")
    page.keyboard.type("33")
    page.keyboard.press("Enter")
    frame_is(page, 33)
    page.keyboard.press("g")
    page.wait_for_function("() => document.querySelectorAll('#glances li').length === 1")
    page.keyboard.press("g")  # the same frame again: nothing added, and the page says so
    status_says(page, "you already have a glance at frame 33")
    assert page.locator("#glances li").count() == 1

    page.keyboard.press("+")
    page.keyboard.press("+")
    assert page.locator("#zoom").text_content() == "4×"
    box = page.locator("#timeline-wrap").bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + box["height"] / 2)
    page.wait_for_function("() => !document.getElementById('thumb').hidden")
    assert page.locator("#thumb-label").text_content().startswith("frame ")

    page.wait_for_function("() => location.hash === '#video=alpha&frame=33'")
    page.reload()  # the last video and frame come back
    page.wait_for_function("() => document.getElementById('title').textContent === 'alpha'")
    frame_is(page, 33)

    page.keyboard.press("u")
    status_says(page, "undid adding the glance")
    page.wait_for_function("() => document.querySelectorAll('#glances li').length === 0")
    page.keyboard.press("Control+Enter")  # done without a glance: is there no anomaly?
    page.wait_for_function("() => !document.getElementById('ask').hidden")
    page.keyboard.press("y")
    page.wait_for_function("() => document.getElementById('title').textContent === 'beta'")
    assert page.locator("#videos li[data-id='alpha'] .badge").text_content() == "no anomaly"
    assert page.locator("#progress").text_content() == "1 of 2 done"
    # the messages sit next to the player, inside the first screen
    status = page.locator("#status").bounding_box()
    assert status["y"] + status["height"] < 860


def test_two_tabs_never_block_each_other_and_a_real_conflict_is_redone(page):
    base = page.server.url
    page.goto(base)
    page.evaluate("localStorage.setItem('glancevad.annotator', 'alice')")
    other = page.context.new_page()
    other.set_default_timeout(15_000)
    for tab in (page, other):
        tab.goto(base)
        tab.wait_for_function("() => document.querySelectorAll('#videos li').length === 2")
        open_video(tab, "alpha")
    page.keyboard.press("g")
    status_says(page, "glance at frame 0 · saved")
    other.keyboard.press("ArrowRight")
    other.keyboard.press("g")  # drawn before the first tab's glance: saved all the same
    status_says(other, "glance at frame 1 · saved")
    other.wait_for_function("() => document.querySelectorAll('#glances li').length === 2")
    page.wait_for_function("() => document.querySelectorAll('#glances li').length === 2")  # its poll redraws
    page.wait_for_function("() => document.getElementById('live').textContent.includes('updated')")
    status_says(page, "glance at frame 0 · saved")  # quietly: its own last message stays

    # a real conflict: a reviewer rejects the glance another reviewer accepted since the page drew it
    for name in ("rev", "rev2"):
        page.request.post(f"{base}/api/annotators", data={"name": name})
    GlanceStore(page.db).add_annotator("rev2", reviewer=True)
    page.evaluate("localStorage.setItem('glancevad.annotator', 'rev')")
    page.clock.install()
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('#videos li').length === 2")
    open_video(page, "alpha")
    page.locator("input[name=mode][value=review]").check()
    page.wait_for_function("() => document.querySelectorAll('.review-column').length === 1")
    page.clock.pause_at(datetime.now() + timedelta(seconds=10))  # from here on no poll redraws the page
    first = page.evaluate("app.glances[0].id")
    accepted = page.request.post(f"{base}/api/glances/{first}/review", data={"reviewer": "rev2", "status": "accepted"})
    assert accepted.status == 200, accepted.text()
    page.locator(".review-list li span").first.click()
    page.keyboard.press("r")
    status_says(page, f"rejected glance #{first} at frame 0 · saved (glance #{first} changed since you saw it:"
                      " accepted by rev2; done on it as it is now)")
    assert page.request.get(f"{base}/api/videos/alpha/glances").json()[0]["reviewer"] == "rev"
    other.keyboard.press("p")  # alice's tab still shows the glance proposed
    other.keyboard.press("Delete")  # a reviewed glance is not hers to delete any more: she is told
    status_says(other, "was already rejected by a reviewer: it cannot be deleted")


def test_the_token_leaves_the_address_bar(page, tmp_path):
    with AnnotateServer(tmp_path / "videos", tmp_path / "t.sqlite", "--token", "s3cret") as server:
        page.goto(f"{server.url}/?token=s3cret")
        page.wait_for_function("() => !location.search.includes('token')")
        page.locator("#who-name").fill("alice")
        page.locator("#who-form button").click()
        page.wait_for_function("() => document.querySelectorAll('#videos li').length === 2")  # the cookie works
        assert "token" not in page.url
