"""A team at work in real headless Chromium: four annotators and a reviewer on the same videos at once.

Each person has their own browser context and works as a person does: seek somewhere (go to a frame,
or a few arrow steps), wait a moment, press G; the reviewer goes through the review queue accepting
and rejecting. No one touches anyone else's glances, so no write may be refused; every glance the
server acknowledged must be stored at the frame the annotator saw, and every decision of the
reviewer must be the glance's final status.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3

import pytest

from browser import ARTIFACTS, CHROMIUM, FLAGS, require_chromium
from cli_helpers import AnnotateServer
from media import write_video

require_chromium()
async_api = pytest.importorskip("playwright.async_api")

VIDEOS = {"v1": 120, "v2": 120, "v3": 120}  # id: frames
ANNOTATORS = ("ann", "bea", "cai", "dov")
PRESSES = 60  # G presses per annotator: 240 in all (a few land on a frame the annotator already has)
DECISIONS = 40
# every message a page shows, kept by the test (the page keeps none)
RECORD_MESSAGES = """() => {
  window.__said = [];
  new MutationObserver(() => window.__said.push(document.getElementById('status').textContent))
    .observe(document.getElementById('status'), { childList: true, characterData: true, subtree: true });
}"""


async def pause(rng: random.Random) -> None:
    """A short, human-like pause between two actions."""
    await asyncio.sleep(rng.uniform(0.05, 0.35))


async def sign_in(context, url: str, name: str):
    page = await context.new_page()
    page.set_default_timeout(30_000)
    await page.goto(url)
    await page.evaluate("(n) => localStorage.setItem('glancevad.annotator', n)", name)
    await page.reload()
    await page.wait_for_function("(n) => document.querySelectorAll('#videos li').length === n", arg=len(VIDEOS))
    await page.evaluate(RECORD_MESSAGES)
    return page


async def open_video(page, video_id: str) -> None:
    await page.locator(f"#videos li[data-id='{video_id}']").click()
    await page.wait_for_function("(v) => document.getElementById('title').textContent === v"
                                 " && document.getElementById('player').readyState >= 1", arg=video_id)


async def annotate(page, rng: random.Random) -> list[tuple[str, int]]:
    """G at random frames of random videos; returns (video, frame) of each press, in order."""
    pressed = []
    video_id = None
    for i in range(PRESSES):
        if i % 15 == 0:
            video_id = rng.choice(sorted(VIDEOS))
            await open_video(page, video_id)
        if rng.random() < 0.7:
            frame = rng.randrange(VIDEOS[video_id])
            await page.keyboard.press("f")
            await page.keyboard.type(str(frame))
            await page.keyboard.press("Enter")
        else:
            for _ in range(rng.randint(1, 4)):
                await page.keyboard.press("ArrowRight")
        await pause(rng)
        pressed.append((video_id, int(await page.locator("#frame").text_content())))
        await page.keyboard.press("g")
        await pause(rng)
    await page.wait_for_function("() => app.busy === 0")
    return pressed


async def review(page, rng: random.Random) -> None:
    """Q to the next video needing review, N through its glances, A or R on each."""
    await page.locator("input[name=mode][value=review]").check()
    decided = 0
    while decided < DECISIONS:
        await page.evaluate("document.getElementById('status').textContent = ''")
        await page.keyboard.press("q")
        await page.wait_for_function("() => document.getElementById('status').textContent.includes('review')")
        if await page.evaluate("app.video === null || app.review === null"):
            await asyncio.sleep(1)  # nothing glanced yet
            continue
        for _ in range(rng.randint(2, 5)):
            await page.keyboard.press("n")
            await pause(rng)
            if await page.evaluate("app.selected") is None:
                break
            await page.keyboard.press(rng.choice("aar"))
            decided += 1
            await pause(rng)
        await page.wait_for_function("() => app.busy === 0")


async def team(url: str) -> dict:
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        writes: dict[str, list] = {name: [] for name in (*ANNOTATORS, "rev")}
        pages = {}
        for name in writes:
            context = await browser.new_context(viewport={"width": 1366, "height": 768})
            pages[name] = await sign_in(context, url, name)
            pages[name].on("response", lambda response, name=name: writes[name].append(response)
                           if response.request.method in ("POST", "DELETE") else None)
        results = await asyncio.gather(
            *(annotate(pages[name], random.Random(i)) for i, name in enumerate(ANNOTATORS)),
            review(pages["rev"], random.Random(99)))
        answers = {name: [(r.url, r.status, await r.json()) for r in responses] for name, responses in writes.items()}
        said = {name: await page.evaluate("window.__said") for name, page in pages.items()}
        # annotate mode shows the others' glances too, each annotator in their own colour
        ann = pages["ann"]
        await open_video(ann, "v1")
        await ann.wait_for_function("() => app.glances.length && app.glances.every(g => g.video_id === 'v1')")
        colours = await ann.locator("#timeline .tick").evaluate_all(
            "ticks => ticks.filter(t => !t.classList.contains('rejected'))"
            ".map(t => [t.dataset.annotator, t.style.backgroundColor, t.classList.contains('other')])")
        await ann.screenshot(path=str(ARTIFACTS / "annotate_team.png"))
        await browser.close()
    return {"pressed": dict(zip(ANNOTATORS, results[:-1], strict=True)), "answers": answers, "said": said,
            "colours": colours}


@pytest.mark.slow
def test_four_annotators_and_a_reviewer_at_once_lose_nothing(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for video_id, frames in VIDEOS.items():
        write_video(videos / f"{video_id}.webm", frames, width=160, height=120, codec="libvpx")
    db = tmp_path / "team.sqlite"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with AnnotateServer(videos, db, "--reviewer", "rev") as server:
        seen = asyncio.run(team(server.url))
    with sqlite3.connect(db) as con:
        stored = {row[0]: row[1:] for row in con.execute(
            "SELECT id, video_id, frame, annotator, status, reviewer FROM glances WHERE deleted IS NULL")}

    refused = [(name, url, status, body) for name, answers in seen["answers"].items()
               for url, status, body in answers if status >= 400]
    assert refused == []  # no one touched anyone else's glance: nothing may be refused
    for name, pressed in seen["pressed"].items():
        acknowledged = [body for url, status, body in seen["answers"][name] if url.endswith("/glances")]
        assert len(acknowledged) == len(pressed) == PRESSES
        for (video_id, frame), body in zip(pressed, acknowledged, strict=True):  # each G in order, as seen
            assert stored[body["id"]][:3] == (video_id, frame, name)
    created = sum(body["created"] is True for answers in seen["answers"].values()
                  for url, _, body in answers if url.endswith("/glances"))
    assert created >= 200 and created == len(stored)
    decisions = {}
    for url, _, body in seen["answers"]["rev"]:
        if url.endswith("/review"):
            decisions[body["id"]] = body["status"]
    assert len(decisions) >= DECISIONS // 2 and set(decisions.values()) == {"accepted", "rejected"}
    assert {gid: stored[gid][3] for gid in decisions} == decisions  # every decision landed, as the last word
    assert all(stored[gid][4] == "rev" for gid in decisions)
    assert not [m for messages in seen["said"].values() for m in messages if "not saved" in m or "failed" in m]

    others = {annotator for annotator, _, other in seen["colours"] if other}
    own = {annotator for annotator, _, other in seen["colours"] if not other}
    on_v1 = {row[2] for row in stored.values() if row[0] == "v1" and row[3] != "rejected"}
    assert own == {"ann"} & on_v1 and others == on_v1 - {"ann"} and len(others) >= 2
    hues = {annotator: colour for annotator, colour, _ in seen["colours"]}
    assert len(set(hues.values())) == len(hues)  # one colour each
