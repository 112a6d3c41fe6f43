"""``make paper`` end to end at a tiny size, its report in real headless Chromium, and its resumption."""

from __future__ import annotations

import json
import subprocess

import pytest

from browser import ARTIFACTS, CHROMIUM, FLAGS, require_chromium
from cli_helpers import run
from conftest import PROJECT
from glancevad.experiments.grids import grid_cells
from glancevad.experiments.paper import PAPER_GRIDS

require_chromium()
sync_api = pytest.importorskip("playwright.sync_api")

TINY = ("--seeds 1 --parallel 2 --set steps=4 --set eval_every=2 --set min_mining_step=2 --set batch_size=4 "
        "--set num_snippets=16 --set precision=fp32")


def make_paper(folder) -> subprocess.CompletedProcess:
    proc = subprocess.run(["make", "-s", "-C", str(PROJECT), "paper", f"PAPER_DIR={folder}", "PAPER_SIZE=tiny",
                           "PAPER_DATA_SEEDS=1 2", f"PAPER_ARGS={TINY}", f"SELECTION_ARGS={TINY}"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_make_paper_at_tiny_size_opens_in_chromium_and_resumes(tmp_path):
    folder = tmp_path / "paper"
    printed = make_paper(folder)
    said = " ".join(printed.stderr.split())
    assert "preset demo (from the dataset's name 'synthetic'" in said
    assert "2 data root(s) x 6 grids: 84 (grid, setting, seed) runs, 74 distinct" in said
    assert "disk: " in said
    assert str(folder / "index.html") in printed.stdout.replace("\n", "")
    info = json.loads((folder / "paper.json").read_text())
    assert info["runs"] == len(list((folder / "runs").glob("*-s0-*"))) == 74 and info["wall_s"] > 0
    assert len(info["caches"]) == 2                                  # one per data seed, none per glance file
    for grid in PAPER_GRIDS:
        lines = (folder / grid / "table.md").read_text().splitlines()
        rows = [line for line in lines if line.startswith("| ") and not line.startswith("| setting")]
        assert len(rows) == 2 * (len(grid_cells(grid)) + (3 if grid == "networks" else 0)), grid  # best + last
        holds = json.loads((folder / grid / "holds.json").read_text())
        assert set(holds) == {"best", "last"} and any("of 2 data seeds" in line for line in holds["best"]), grid
    assert (folder / "selection" / "data-seed2" / "selection.md").exists()
    for k in (1, 2):   # each data seed's tables in per-data/, none inside the data root (which lies in folder)
        assert (folder / "per-data" / f"data-seed{k}" / "perturbation" / "glances").is_dir()
        assert not any((folder / f"data-seed{k}" / grid).exists() for grid in PAPER_GRIDS)
    assert "| min_mining_step |" in (folder / "deviations.md").read_text()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto((folder / "index.html").as_uri())
        titles = page.locator("h2").all_inner_texts()
        assert [t.split(":")[0] for t in titles if t.split(":")[0] in PAPER_GRIDS] == list(PAPER_GRIDS)
        assert len(titles) == len(PAPER_GRIDS) + 2 and any("Fig. 5" in t for t in titles)
        assert any(t.startswith("Settings: this project vs the paper vs the release") for t in titles)
        assert page.locator("ul.holds li").count() >= 4 * len(PAPER_GRIDS)        # best.pt and last.pt
        assert page.get_by_text("does it hold here?", exact=False).count() == len(PAPER_GRIDS)
        broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
        assert page.locator("img").count() >= len(PAPER_GRIDS) + 4 and broken == 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "paper_report.png"), full_page=True)
        browser.close()
    assert errors == []

    # a second make trains nothing: every run folder is left as it was
    stamps = {p: p.stat().st_mtime_ns for p in (folder / "runs").glob("*/last.pt")}
    again = make_paper(folder)
    assert "runs: 0 to train or test" in again.stderr
    assert run("report", folder).stdout.replace("\n", "").endswith(f"{folder / 'index.html'}")
    assert {p: p.stat().st_mtime_ns for p in (folder / "runs").glob("*/last.pt")} == stamps
    resumed = json.loads((folder / "paper.json").read_text())  # the first estimate kept, wall time added up
    assert resumed["estimate_s"] == info["estimate_s"] and resumed["wall_s"] >= info["wall_s"]
