"""Assigned work in real headless Chromium: an annotator's queue and "n of N done", and the progress page."""

from __future__ import annotations

import pytest

from browser import ARTIFACTS, CHROMIUM, FLAGS, require_chromium, sign_in
from cli_helpers import AnnotateServer, run
from media import write_video

require_chromium()
sync_api = pytest.importorskip("playwright.sync_api")


def test_queue_and_progress_page(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for vid in ("p1", "p2", "p3", "p4", "p5"):
        write_video(videos / f"{vid}.webm", 40, width=160, height=120, codec="libvpx")
    db = tmp_path / "g.sqlite"
    # p1 -> ann bob, p2 -> cai ann, p3 -> bob cai, p4 -> ann bob, p5 -> cai ann
    run("annotate", "assign", "--videos", videos, "--db", db, "--to", "ann", "--to", "bob", "--to", "cai",
        "--rule", "round-robin", "--per-video", "2")
    with AnnotateServer(videos, db, "--reviewer", "rev") as server, sync_api.sync_playwright() as playwright:
        url = server.url
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = sign_in(browser, url, "ann", viewport=(1280, 720))
        page.wait_for_function("() => document.querySelectorAll('#videos li').length === 4")
        listed = page.locator("#videos li").evaluate_all("items => items.map(i => i.dataset.id)")
        assert listed == ["p1", "p2", "p4", "p5"]  # her queue only
        assert page.locator("#progress").text_content() == "0 of 4 done"
        assert page.locator("#queue-label").is_visible() and page.locator("#queue-size").text_content() == "4"

        page.locator("#videos li[data-id='p1']").click()
        page.wait_for_function("() => document.getElementById('title').textContent === 'p1'"
                               " && document.getElementById('player').readyState >= 1")
        page.keyboard.press("f")
        page.keyboard.type("10")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.getElementById('frame').textContent === '10'")
        page.keyboard.press("g")
        page.wait_for_function("() => document.querySelectorAll('#glances li').length === 1")
        page.keyboard.press("Control+Enter")  # done, and the next video of her queue opens
        page.wait_for_function("() => document.getElementById('title').textContent === 'p2'")
        page.keyboard.press("Control+Enter")
        page.wait_for_function("() => !document.getElementById('ask').hidden")
        page.keyboard.press("y")  # no anomaly: next in the queue is p4, not p3
        page.wait_for_function("() => document.getElementById('title').textContent === 'p4'")
        page.wait_for_function("() => document.getElementById('progress').textContent === '2 of 4 done'")
        page.locator("#queue-only").uncheck()  # every video, on demand
        page.wait_for_function("() => document.querySelectorAll('#videos li').length === 5")

        for name, vid, frame in (("bob", "p1", 12), ("bob", "p3", 30)):  # bob near ann's glance on p1
            page.request.post(f"{url}/api/videos/{vid}/glances", data={"annotator": name, "frame": frame})
        page.request.post(f"{url}/api/annotators", data={"name": "rev"})
        ann_glance = page.request.get(f"{url}/api/videos/p1/glances?annotator=ann").json()[0]["id"]
        page.request.post(f"{url}/api/glances/{ann_glance}/review", data={"reviewer": "rev", "status": "accepted"})

        page.locator("#progress-link").click()
        page.wait_for_function("() => document.querySelectorAll('#videos tbody tr').length === 5")
        people = page.locator("#annotators tbody tr").evaluate_all(
            "rows => Object.fromEntries(rows.map(r => [r.dataset.annotator, [...r.cells].map(c => c.textContent)]))")
        assert people["ann"] == ["ann", "4 assigned", "2 of 4 done", "", "1", "1", "1", "0", "0"]
        assert people["bob"] == ["bob", "3 assigned", "0 of 3 done", "", "2", "2", "0", "0", "2"]
        assert people["rev"][1:3] == ["every video", "0 of 5 done"]
        rows = page.locator("#videos tbody tr").evaluate_all(
            "rows => Object.fromEntries(rows.map(r => [r.dataset.video, [...r.cells].map(c => c.textContent)]))")
        assert rows["p1"] == ["p1", "ann, bob", "ann, bob", "ann", "2", "1", "1",
                              "⚑ 1 unreviewed, 1 possible duplicate pair(s)"]
        assert rows["p2"] == ["p2", "ann, cai", "–", "ann", "0", "0", "0", "–"]
        assert rows["p3"][6:] == ["1", "⚑ 1 unreviewed"]
        assert page.locator("#summary").text_content() == "5 videos · 3 glances · 2 video(s) need review"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "annotate_progress.png"), full_page=True)
        browser.close()
