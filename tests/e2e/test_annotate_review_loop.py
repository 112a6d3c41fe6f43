"""The reviewer's loop and the page's small manners, in real headless Chromium (Debian's, via Playwright).

A and R judge the glance shown and move on to the next unreviewed one; N and P go from the playhead
and say when there is no further glance (and then A / R act on nothing); the review panel is on the
first screen at 1366x768; the video list marks videos needing review; opening videos never shows a
"changed by others" line that nobody caused. Then: the zoomed timeline follows the playhead, a click
puts the hover thumbnail away, and the frame-mapping explanation stays in the help.
"""

from __future__ import annotations

import pytest

from browser import CHROMIUM, FLAGS, require_chromium, sign_in
from cli_helpers import AnnotateServer
from media import write_video

require_chromium()
sync_api = pytest.importorskip("playwright.sync_api")

# every text the status line and the "updated by others" line show, kept by the test (the page keeps none)
RECORD = """() => {
  window.__said = []; window.__live = [];
  const keep = (id, into) => new MutationObserver(() => into.push(document.getElementById(id).textContent))
    .observe(document.getElementById(id), { childList: true, characterData: true, subtree: true });
  keep('status', window.__said); keep('live', window.__live);
}"""


@pytest.fixture
def server(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("v1", "v2", "v3", "v4", "v5", "v6"):
        write_video(videos / f"{name}.webm", 60, width=160, height=120, codec="libvpx")
    with AnnotateServer(videos, tmp_path / "g.sqlite", "--reviewer", "rev") as running:
        yield running


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def signed_in(browser, url: str, name: str, viewport=(1366, 768)):
    """``name``'s page with the six videos listed, its messages recorded."""
    page = sign_in(browser, url, name, viewport=viewport)
    page.wait_for_function("() => document.querySelectorAll('#videos li').length === 6")
    page.evaluate(RECORD)
    return page


def glance(page, url: str, video: str, annotator: str, frame: int) -> int:
    page.request.post(f"{url}/api/annotators", data={"name": annotator})
    answer = page.request.post(f"{url}/api/videos/{video}/glances", data={"annotator": annotator, "frame": frame})
    assert answer.ok, answer.text()
    return answer.json()["id"]


def statuses(page, url: str, video: str) -> dict[int, str]:
    return {g["frame"]: g["status"] for g in page.request.get(f"{url}/api/videos/{video}/glances").json()}


def says(page, text: str) -> None:
    try:
        page.wait_for_function("(t) => document.getElementById('status').textContent.includes(t)", arg=text)
    except sync_api.TimeoutError:
        raise AssertionError(f"the page says {page.locator('#status').text_content()!r}, not {text!r}") from None


def at_frame(page, frame: int) -> None:
    page.wait_for_function("(f) => document.getElementById('frame').textContent === String(f)"
                           " && !document.getElementById('player').seeking", arg=frame)


def open_video(page, video: str) -> None:
    page.locator(f"#videos li[data-id='{video}']").click()
    page.wait_for_function("(v) => document.getElementById('title').textContent === v"
                           " && document.getElementById('player').readyState >= 1", arg=video)
    at_frame(page, 0)


def go_to(page, frame: int) -> None:
    page.keyboard.press("f")
    page.keyboard.type(str(frame))
    page.keyboard.press("Enter")
    at_frame(page, frame)


def test_the_reviewer_loop(server, browser):
    url = server.url
    rev = signed_in(browser, url, "rev")
    ids = {frame: glance(rev, url, "v1", who, frame) for who, frame in (("ann", 10), ("bob", 20), ("ann", 30),
                                                                      ("bob", 50))}
    glance(rev, url, "v2", "ann", 5)
    rev.reload()
    rev.wait_for_function("() => document.querySelectorAll('#videos li').length === 6")
    rev.evaluate(RECORD)
    marked = rev.locator("#videos li").evaluate_all(
        "items => items.filter(i => i.dataset.review).map(i => i.dataset.id)")
    assert marked == ["v1", "v2"]  # the videos with unreviewed glances, marked for the reviewer
    assert rev.locator("#videos li[data-id='v1'] .review").is_visible()

    open_video(rev, "v1")
    rev.locator("input[name=mode][value=review]").check()
    rev.wait_for_function("() => document.querySelectorAll('.review-column').length === 2")
    # the review panel, buttons included, is on the first screen at 1366x768: no scrolling
    button = rev.locator(".review-list li button[data-review=accepted]").first.bounding_box()
    assert button["y"] + button["height"] <= 768
    assert rev.evaluate("document.querySelector('main').scrollTop") == 0

    rev.keyboard.press("n")  # from the playhead (frame 0): the glance at 10
    at_frame(rev, 10)
    rev.keyboard.press("a")  # accepted, and on to the next unreviewed glance
    says(rev, f"accepted glance #{ids[10]} at frame 10 · saved · next: #{ids[20]} at frame 20")
    at_frame(rev, 20)
    rev.keyboard.press("r")
    says(rev, f"rejected glance #{ids[20]} at frame 20 · saved · next: #{ids[30]} at frame 30")
    rev.keyboard.press("a")  # two keys at once: each judges the glance the one before moved on to
    rev.keyboard.press("a")
    says(rev, f"accepted glance #{ids[50]} at frame 50 · saved · no further unreviewed glance")
    assert statuses(rev, url, "v1") == {10: "accepted", 20: "rejected", 30: "accepted", 50: "accepted"}
    assert rev.evaluate("app.selected") is None
    rev.keyboard.press("r")  # nothing selected: nothing rejected
    says(rev, "reject: no glance selected")

    go_to(rev, 25)
    rev.keyboard.press("n")  # from the playhead, not from the last selected glance
    at_frame(rev, 30)
    rev.keyboard.press("p")
    at_frame(rev, 20)
    rev.keyboard.press("ArrowRight")  # the selected glance is off screen now: R does not touch it
    rev.keyboard.press("r")
    says(rev, f"the selected glance #{ids[20]} is at frame 20, not the frame shown")
    go_to(rev, 55)
    rev.keyboard.press("n")
    says(rev, "no further glance after frame 55")
    rev.keyboard.press("a")
    says(rev, "accept: no glance selected")
    go_to(rev, 5)
    rev.keyboard.press("p")
    says(rev, "no earlier glance before frame 5")
    assert statuses(rev, url, "v1") == {10: "accepted", 20: "rejected", 30: "accepted", 50: "accepted"}
    rev.wait_for_function("() => document.querySelector(\"#videos li[data-id='v1']\").dataset.review === ''")

    rev.keyboard.press("q")  # the queue's message stays
    says(rev, "v2 needs review: 1 unreviewed")
    rev.wait_for_timeout(2500)  # a poll or two
    assert "v2 needs review" in rev.locator("#status").text_content()
    assert not [text for text in rev.evaluate("window.__said") if "not saved" in text or "failed" in text]


def test_opening_videos_never_says_others_changed_them(server, browser):
    """The cause of the false "changed" line: a refresh of the video left behind (after G, A) finished
    after the next video opened and drew the previous video's glances and version, so the next poll saw
    a change. Alice glances and opens the next video at once, the reviewer judges and presses Q at once;
    no one else writes, so no such line may appear."""
    url = server.url
    alice = signed_in(browser, url, "alice", viewport=(1280, 800))
    order = ["v1", "v2", "v3", "v4", "v5", "v6"] * 2
    for video, following in zip(order, order[1:] + ["v1"], strict=True):
        open_video(alice, video)
        alice.keyboard.press("ArrowRight")
        alice.keyboard.press("g")
        alice.locator(f"#videos li[data-id='{following}']").click()  # while the glance is being saved
        alice.wait_for_function("(v) => document.getElementById('title').textContent === v", arg=following)
    alice.wait_for_timeout(2500)  # the polls that would have seen the "change"
    assert [t for t in alice.evaluate("window.__live") if t] == []
    said = alice.evaluate("window.__said")
    alice.close()  # the reviewer's decisions are changes by another: alice's page would rightly say so
    rev = signed_in(browser, url, "rev")
    for _ in range(6):
        rev.keyboard.press("q")
        rev.wait_for_function("() => document.getElementById('status').textContent.includes('needs review')"
                              " && app.review !== null && !document.getElementById('player').seeking")
        rev.keyboard.press("n")
        rev.keyboard.press("a")
        rev.keyboard.press("q")  # while the decision is being saved
        rev.wait_for_function("() => app.busy === 0")
    rev.wait_for_timeout(2500)
    assert [t for t in rev.evaluate("window.__live") if t] == []
    assert "needs review" in rev.locator("#status").text_content() or "no video needs review" in rev.locator(
        "#status").text_content()
    said += rev.evaluate("window.__said")
    assert not [text for text in said if "not saved" in text or "failed" in text or "changed" in text]
    frames = {v: [g["frame"] for g in rev.request.get(f"{url}/api/videos/{v}/glances").json()] for v in order[:6]}
    assert frames == dict.fromkeys(order[:6], [1])  # each G on the video it was pressed on


def test_zoomed_timeline_follows_and_thumbnails_go_away(server, browser):
    page = signed_in(browser, server.url, "alice", viewport=(1280, 800))
    open_video(page, "v1")
    # the frame mapping is explained in the help (?), not on the annotator's screen
    assert page.locator("#mapping").text_content() == ""
    assert "mediaTime" not in page.evaluate("document.querySelector('main').innerText")
    assert "mediaTime" in page.locator("#help-mapping").text_content()

    for _ in range(3):
        page.keyboard.press("+")
    assert page.locator("#zoom").text_content() == "8×"
    in_view = """() => { const p = document.getElementById('playhead').getBoundingClientRect();
      const w = document.getElementById('timeline-wrap').getBoundingClientRect();
      return p.left >= w.left && p.right <= w.right; }"""
    go_to(page, 55)
    assert page.evaluate(in_view)
    go_to(page, 3)
    assert page.evaluate(in_view)
    page.keyboard.press("Space")  # playing: the timeline scrolls along
    seen = []
    for _ in range(12):
        page.wait_for_timeout(120)
        seen.append((page.evaluate("Number(document.getElementById('frame').textContent)"), page.evaluate(in_view)))
    page.keyboard.press("Space")
    assert max(f for f, _ in seen) > 20 and all(ok for _, ok in seen), seen

    box = page.locator("#timeline-wrap").bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + box["height"] / 2)
    page.wait_for_function("() => !document.getElementById('thumb').hidden")
    page.mouse.click(box["x"] + 40, box["y"] + box["height"] / 2)
    page.wait_for_function("() => document.getElementById('thumb').hidden")  # not left over the picture
    page.mouse.move(box["x"] + 60, box["y"] + box["height"] / 2)
    page.wait_for_function("() => !document.getElementById('thumb').hidden")  # hovering again brings it back
