"""Model assistance in the annotation server: scores from feature files, the background extraction worker,
the video order, a reviewer moving a model's proposal, and model proposals kept out of exports."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from assist_helpers import profile_features, profile_score, write_profile_checkpoint
from cli_helpers import assert_user_error, run
from glancevad.annotate.library import scan_videos, video_file
from glancevad.annotate.server import create_app
from glancevad.annotate.store import GlanceStore
from glancevad.assist import provider
from glancevad.assist.provider import ScoreProvider
from glancevad.errors import DataError, GlanceVADError
from media import write_video

LOCAL = "http://127.0.0.1"
# gamma: 150 frames at 25 fps; snippets 1-2 high (peak at frame 32, the first of snippet 2), snippet 6 (peak 96)
GAMMA = [0, 0.7, 1.0, 0, 0, 0, 0.9, 0, 0, 0]


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    write_video(folder / "gamma.webm", 150, codec="libvpx")
    write_video(folder / "delta.webm", 40, codec="libvpx")
    write_video(folder / "short.webm", 20, codec="libvpx")
    write_video(folder / "epsilon.webm", 40, codec="libvpx")  # its feature file holds a NaN
    return folder


@pytest.fixture
def setup(video_dir, tmp_path):
    features = tmp_path / "features"
    features.mkdir()
    np.save(features / "gamma.npy", profile_features(GAMMA))
    broken = profile_features([0, 1])
    broken[1, 0, 3] = np.nan
    np.save(features / "epsilon.npy", broken)
    checkpoint = write_profile_checkpoint(tmp_path / "best.pt")
    store = GlanceStore(tmp_path / "g.sqlite")
    scan_videos(video_dir, store)
    store.add_annotator("rev", reviewer=True)
    return store, features, checkpoint


def fake_extractor(path, on_progress):
    """delta extracts to 3 snippets with one high (peak at frame 16); anything else fails like a short video."""
    if path.stem != "delta":
        raise DataError(f"{path}: 20 frames, fewer than one snippet of 16 frames")
    for done in range(1, 4):
        on_progress(done, 3)
    return profile_features([0, 1, 0])


def wait_for(client, video_id, state, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/videos/{video_id}/scores").json()
        if body["state"] == state:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{video_id} never reached {state}: {body}")


@pytest.fixture
def client(setup, video_dir, tmp_path):
    store, features, checkpoint = setup
    scores = ScoreProvider(checkpoint, features=features, cache=tmp_path / "g-features", extract=fake_extractor,
                           video_path=lambda vid: video_file(video_dir, store, vid))
    scores.start([v["id"] for v in store.videos()])
    with TestClient(create_app(video_dir, store, scores=scores), base_url=LOCAL) as c:
        for name in ("ann", "rev"):
            c.post("/api/annotators", json={"name": name})
        yield c
    scores.stop()


def test_scores_and_peaks_from_feature_files(client):
    assert client.get("/api/config").json()["model"] == {"checkpoint": "best.pt", "model": "mil", "threshold": 0.5,
                                                         "near": 16}
    body = client.get("/api/videos/gamma/scores").json()
    assert body["state"] == "ready" and body["frames_per_snippet"] == 16
    assert body["scores"] == pytest.approx([profile_score(x) for x in GAMMA], abs=1e-5)
    assert body["peaks"] == [
        {"frame": 32, "score": pytest.approx(profile_score(1.0), abs=1e-6), "start": 16, "end": 47},
        {"frame": 96, "score": pytest.approx(profile_score(0.9), abs=1e-6), "start": 96, "end": 111}]


def test_extraction_runs_in_the_background_and_failures_say_why(client, tmp_path):
    delta = wait_for(client, "delta", "ready")
    assert [p["frame"] for p in delta["peaks"]] == [16]
    assert (tmp_path / "g-features" / "delta.npy").is_file()  # cached beside the database
    short = wait_for(client, "short", "failed")
    assert "fewer than one snippet" in short["message"] and short["scores"] is None
    assert client.get("/api/videos/short").status_code == 200  # the video still works
    epsilon = wait_for(client, "epsilon", "failed")
    assert "epsilon.npy: video epsilon: NaN or infinite value (first at snippet 1)" in epsilon["message"]


def test_videos_ordered_by_unglanced_peak(client):
    wait_for(client, "delta", "ready")
    wait_for(client, "short", "failed")
    client.get("/api/videos/gamma/scores")
    listing = {v["id"]: v["unglanced"] for v in client.get("/api/videos").json()}
    assert listing == {"gamma": pytest.approx(profile_score(1.0), abs=1e-6),
                       "delta": pytest.approx(profile_score(1.0), abs=1e-6), "short": None, "epsilon": None}
    # a glance inside gamma's first event (within 16 frames of it) leaves the second peak
    client.post("/api/videos/gamma/glances", json={"annotator": "ann", "frame": 50})
    listing = {v["id"]: v["unglanced"] for v in client.get("/api/videos").json()}
    assert listing["gamma"] == pytest.approx(profile_score(0.9), abs=1e-6)
    client.post("/api/videos/gamma/glances", json={"annotator": "ann", "frame": 100})
    assert {v["id"]: v["unglanced"] for v in client.get("/api/videos").json()}["gamma"] == 0.0


def test_each_videos_peaks_are_found_once(client, monkeypatch):
    wait_for(client, "delta", "ready")
    client.get("/api/videos/gamma/scores")  # both scored videos' peaks are found here
    from glancevad.inference import Inferencer

    calls = []
    real = Inferencer.find_events
    monkeypatch.setattr(Inferencer, "find_events", lambda *args, **kwargs: calls.append(args) or real(*args, **kwargs))
    first = client.get("/api/videos").json()
    assert client.get("/api/videos").json() == first and client.get("/api/videos/gamma/scores").json()["peaks"]
    assert calls == []  # the list and the scores reuse them, on every request


def test_live_frames_are_the_glances_neither_deleted_nor_rejected(client, setup):
    store = setup[0]
    store.import_glances({"gamma": [32, 96]}, "model", status="proposed", model=True)
    added = [client.post("/api/videos/gamma/glances", json={"annotator": "ann", "frame": frame}).json()
             for frame in (10, 20, 30)]
    assert client.delete(f"/api/glances/{added[1]['id']}?annotator=ann").status_code == 200
    rejected = client.post(f"/api/glances/{added[2]['id']}/review", json={"reviewer": "rev", "status": "rejected"})
    assert rejected.json()["status"] == "rejected"
    client.post("/api/videos/delta/glances", json={"annotator": "ann", "frame": 5})
    one_by_one = {v["id"]: [g["frame"] for g in store.glances(v["id"]) if g["status"] != "rejected"]
                  for v in store.videos()}
    live = store.live_frames()
    assert live == {vid: fs for vid, fs in one_by_one.items() if fs} == {"gamma": [10, 32, 96], "delta": [5]}


def test_a_reviewer_moves_a_model_proposal_and_exports_never_hold_proposals(client, setup):
    store = setup[0]
    assert store.import_glances({"gamma": [32, 96]}, "model", status="proposed", model=True) == 2
    client.post("/api/videos/gamma/glances", json={"annotator": "ann", "frame": 10})  # a person's proposal
    assert client.get("/api/export?include_proposed=true").text == "video-id,glance\ngamma,10\n"
    ids = {g["frame"]: g["id"] for g in client.get("/api/videos/gamma/glances").json()}
    assert client.post(f"/api/glances/{ids[32]}/move", json={"reviewer": "ann", "frame": 40}).status_code == 403
    moved = client.post(f"/api/glances/{ids[32]}/move", json={"reviewer": "rev", "frame": 40}).json()
    assert moved["frame"] == 40 and moved["status"] == "accepted" and moved["annotator"] == "rev"
    client.post(f"/api/glances/{ids[96]}/review", json={"reviewer": "rev", "status": "accepted"})
    assert client.get("/api/export").text == "video-id,glance\ngamma,40\ngamma,96\n"
    statuses = {g["frame"]: g["status"] for g in client.get("/api/videos/gamma/glances").json()}
    assert statuses == {32: "rejected", 40: "accepted", 96: "accepted", 10: "proposed"}
    # moving an accepted glance is refused; undo puts the proposal back
    assert client.post(f"/api/glances/{moved['id']}/move", json={"reviewer": "rev", "frame": 41}).status_code == 422
    client.post("/api/videos/gamma/undo", json={"annotator": "rev"})  # the review of 96
    undone = client.post("/api/videos/gamma/undo", json={"annotator": "rev"}).json()["undone"]
    assert undone["message"] == f"undid moving the glance #{ids[32]} at frame 32 to frame 40: it is proposed again"
    statuses = {g["frame"]: g["status"] for g in client.get("/api/videos/gamma/glances").json()}
    assert statuses == {32: "proposed", 96: "proposed", 10: "proposed"}


def test_without_a_model_the_scores_are_off(video_dir, tmp_path):
    store = GlanceStore(tmp_path / "g.sqlite")
    scan_videos(video_dir, store)
    with TestClient(create_app(video_dir, store), base_url=LOCAL) as c:
        assert c.get("/api/config").json()["model"] is None
        assert c.get("/api/videos/gamma/scores").json() == {"state": "off", "scores": None, "peaks": []}
        assert "unglanced" not in c.get("/api/videos").json()[0]


def test_a_checkpoint_that_does_not_fit_the_features_is_one_error_at_start_up(setup, video_dir, tmp_path):
    store, features, _ = setup
    wide = write_profile_checkpoint(tmp_path / "wide.pt", dim=32)
    with pytest.raises(GlanceVADError, match=r"wide.pt: the network takes 32-d features, but .*features holds 16-d"):
        ScoreProvider(wide, features=features, cache=tmp_path / "c", video_path=lambda vid: video_dir / vid)
    with pytest.raises(GlanceVADError, match="takes 16-d features but I3D gives 1024-d"):
        ScoreProvider(setup[2], cache=tmp_path / "c", video_path=lambda vid: video_dir / vid)
    proc = run("annotate", "--videos", video_dir, "--db", tmp_path / "x.sqlite", "--checkpoint", wide,
               "--features", features, "--port", "1", check=False)
    assert_user_error(proc, "wide.pt: the network takes 32-d features, but", "holds 16-d")


def test_import_of_model_proposals_through_the_cli(setup, video_dir, tmp_path):
    csv_path = tmp_path / "proposals.csv"
    csv_path.write_text("video-id,glance\ngamma,32\ngamma,96\n")
    db = tmp_path / "cli.sqlite"
    printed = run("annotate", "import", csv_path, "--videos", video_dir, "--db", db, "--status", "proposed",
                  "--annotator", "model", "--model").stdout
    assert "imported 2 glances" in printed
    assert GlanceStore(db).roles() == [{"name": "model", "reviewer": False, "model": True, "hue": 0.0}]
    out = tmp_path / "all.csv"
    run("annotate", "export", "--out", out, "--db", db, "--include-proposed")
    assert out.read_text() == "video-id,glance\n"
    assert_user_error(run("annotate", "import", csv_path, "--videos", video_dir, "--db", db, "--model", check=False),
                      "--status proposed")


def test_the_i3d_extractor_reports_progress_per_snippet(tmp_path):
    from glancevad.assist.provider import i3d_extractor

    write_video(tmp_path / "two.webm", 40, codec="libvpx")   # 2 whole snippets of 16 frames
    write_video(tmp_path / "short.webm", 10, codec="libvpx")
    extract = i3d_extractor(1)
    with pytest.raises(DataError, match="10 frames, fewer than one snippet of 16 frames"):
        extract(tmp_path / "short.webm", lambda done, total: None)
    calls = []
    features = extract(tmp_path / "two.webm", lambda done, total: calls.append((done, total)))
    assert features.shape == (2, 1, 1024) and np.isfinite(features).all()
    assert calls == [(1, 2), (2, 2)]


def test_a_network_that_is_not_i3d_sized_works_from_its_feature_files(setup, video_dir, tmp_path):
    """16-d features: the dimension check is against the files, and videos without one fail with the reason."""
    store, features, checkpoint = setup
    np.save(features / "delta.npy", profile_features([0] * 17))  # delta has 40 frames: 2 snippets (3 with the last)
    scores = ScoreProvider(checkpoint, features=features, cache=tmp_path / "c",
                           video_path=lambda vid: video_file(video_dir, store, vid))
    assert scores.cannot_extract is not None and scores.extract is None
    frames = {v["id"]: v["frames"] for v in store.videos()}
    problems = scores.check_videos(frames)
    assert problems[0].endswith("delta.npy: 17 snippets of features, but the video has 40 frames (2 snippets of 16"
                                " frames); not scored (features of another video, frame rate or snippet length?)")
    assert problems[1].startswith("1 video(s) have no feature file and will not be scored (short)")
    assert "takes 16-d features but I3D gives 1024-d" in problems[1] and len(problems) == 2
    scores.start(sorted(frames))
    with TestClient(create_app(video_dir, store, scores=scores), base_url=LOCAL) as client:
        assert wait_for(client, "gamma", "ready")["scores"] == pytest.approx([profile_score(x) for x in GAMMA],
                                                                             abs=1e-5)
        delta = wait_for(client, "delta", "failed")  # never stretched over the video
        assert "17 snippets of features, but the video has 40 frames" in delta["message"] and not delta["peaks"]
        short = wait_for(client, "short", "failed")
        assert short["message"].startswith(f"short: no feature file in {features}, and ")
        assert {v["id"]: v["unglanced"] for v in client.get("/api/videos").json()}["delta"] is None
    scores.stop()


def test_background_extraction_uses_the_checkpoints_crops(setup, video_dir, tmp_path, monkeypatch):
    """A network trained on 2 crops is given I3D's nearest larger count, 5, instead of an error about --crops."""
    store = setup[0]
    made = []
    monkeypatch.setattr(provider, "i3d_extractor", lambda crops, **kw: made.append(crops) or fake_extractor)
    two_crops = write_profile_checkpoint(tmp_path / "two.pt", dim=1024, crops=2)
    scores = ScoreProvider(two_crops, cache=tmp_path / "c", video_path=lambda vid: video_file(video_dir, store, vid))
    assert made == [5] and scores.extraction_crops == 5
    assert "--crops" not in " ".join(scores.check_videos({v["id"]: v["frames"] for v in store.videos()}))


def test_the_opened_video_is_extracted_before_the_one_in_progress(setup, tmp_path):
    """Opening a video interrupts another's extraction; that one starts again afterwards."""
    import threading

    checkpoint = setup[2]
    started, finished = [], []
    opened = threading.Event()

    def extract(path, on_progress):
        started.append(path.name)
        for done in range(1, 4):
            on_progress(done, 3)
            if path.name == "first" and done == 1 and started.count("first") == 1:
                assert opened.wait(30)  # the page opens "third" while "first" is being extracted
        finished.append(path.name)
        return profile_features([0, 1, 0])

    scores = ScoreProvider(checkpoint, cache=tmp_path / "c", extract=extract, video_path=lambda vid: tmp_path / vid)
    scores.start(["first", "second", "third"])
    deadline = time.monotonic() + 30
    while scores.snippet_scores("first")[1].get("done") != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    scores.request("third")
    opened.set()
    deadline = time.monotonic() + 30
    while len(finished) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    scores.stop()
    assert started == ["first", "third", "first", "second"] and finished == ["third", "first", "second"]
    assert all(scores.snippet_scores(vid)[1]["state"] == "ready" for vid in ("first", "second", "third"))


def test_two_pages_waiting_on_two_videos_both_get_their_scores(setup, tmp_path):
    """Page X waits on A, page Y on B, each polling (and reopening now and then) while the other's video is
    extracted: polls never interrupt an extraction a page waits for, so both finish, one after the other.
    (Each poll used to move its video ahead and interrupt the other: A and B restarted each other forever.)
    The background video the first opening interrupted is extracted last."""
    import threading

    checkpoint = setup[2]
    started, finished = [], []
    first_tick = threading.Event()

    def extract(path, on_progress):
        started.append(path.name)
        for done in range(1, 11):
            on_progress(done, 10)
            first_tick.set()
            time.sleep(0.01)
        finished.append(path.name)
        return profile_features([0, 1, 0])

    scores = ScoreProvider(checkpoint, cache=tmp_path / "c", extract=extract, video_path=lambda vid: tmp_path / vid)
    scores.start(["background", "A", "B"])
    assert first_tick.wait(30)  # the background video is being extracted
    deadline = time.monotonic() + 60
    answers: dict[str, list[str]] = {"A": [], "B": []}

    def page(video_id: str) -> None:
        """Open the video, then poll every 5 ms (reopening it every 20th poll) until it is scored."""
        polls = 0
        while time.monotonic() < deadline:
            state = scores.video(video_id, 40, 25.0, opened=polls % 20 == 0)["state"]
            answers[video_id].append(state)
            if state == "ready":
                return
            polls += 1
            time.sleep(0.005)

    x = threading.Thread(target=page, args=("A",))
    x.start()
    while scores.snippet_scores("A")[1]["state"] != "extracting" and time.monotonic() < deadline:
        time.sleep(0.005)
    y = threading.Thread(target=page, args=("B",))  # B is opened while A is being extracted
    y.start()
    x.join(90)
    y.join(90)
    while len(finished) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    scores.stop()
    assert answers["A"][-1] == "ready" and answers["B"][-1] == "ready", (answers["A"][-3:], answers["B"][-3:])
    assert started == ["background", "A", "B", "background"], started
    assert finished == ["A", "B", "background"]


def test_a_poll_never_moves_a_video_ahead(setup, tmp_path):
    """Only the opening (``opened=true``, once) asks for a video first: a page that merely polls one waits
    for the videos before it, and the extraction in progress goes on."""
    import threading

    checkpoint = setup[2]
    started = []
    release = threading.Event()

    def extract(path, on_progress):
        started.append(path.name)
        on_progress(1, 2)
        if path.name == "first":
            assert release.wait(30)
        on_progress(2, 2)
        return profile_features([0, 1, 0])

    scores = ScoreProvider(checkpoint, cache=tmp_path / "c", extract=extract, video_path=lambda vid: tmp_path / vid)
    scores.start(["first", "second", "third"])
    deadline = time.monotonic() + 30
    while not started and time.monotonic() < deadline:
        time.sleep(0.005)
    assert scores.video("third", 40, 25.0)["state"] == "queued"  # a poll, not an opening
    release.set()
    while scores.snippet_scores("third")[1]["state"] != "ready" and time.monotonic() < deadline:
        time.sleep(0.01)
    scores.stop()
    assert started == ["first", "second", "third"]


def test_the_start_up_line_about_crops_names_them(capsys):
    """The line printed when extraction's crop count is not the checkpoint's."""
    from types import SimpleNamespace

    from glancevad.cli.annotate import _report_scoring

    for trained, said in ((2, "trained on 2 crops;"), (None, "trained on an unknown number of crops;")):
        scores = SimpleNamespace(inferencer=SimpleNamespace(loaded=SimpleNamespace(crops=trained)), extraction_crops=5,
                                 check_videos=lambda f: [])
        _report_scoring(scores, {})
        out = capsys.readouterr().out.replace("\n", "")
        assert f"extracted with 5 crops (the network was {said} I3D makes 1, 5 or 10" in out, out
