"""The annotation server's API through httpx: store, review, export/import, validation and security."""

from __future__ import annotations

import csv
import io
import sqlite3
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from cli_helpers import AnnotateServer, assert_user_error, run
from conftest import PROJECT
from glancevad.annotate.library import scan_videos
from glancevad.annotate.server import create_app, is_loopback
from glancevad.annotate.store import GlanceStore
from media import write_video

ARTIFACTS = PROJECT / "runs" / "test-artifacts"
LOCAL = "http://127.0.0.1"  # the Host header must name the bound interface


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    write_video(folder / "alpha.webm", 50, codec="libvpx")
    (folder / "sub").mkdir()
    write_video(folder / "sub" / "beta.mp4", 40, fps=30, codec="h264")
    (folder / "broken.mp4").write_bytes(b"not a video")
    (folder / "notes.txt").write_text("ignored")
    return folder


@pytest.fixture
def client(video_dir, tmp_path):
    store = GlanceStore(tmp_path / "g.sqlite")
    count, problems = scan_videos(video_dir, store)
    assert count == 2 and len(problems) == 1 and "broken.mp4" in problems[0]
    store.add_annotator("rev", reviewer=True)
    with TestClient(create_app(video_dir, store, duplicate_frames=5), base_url=LOCAL) as c:
        for name in ("ann", "bob", "rev"):
            assert c.post("/api/annotators", json={"name": name}).status_code == 201
        c.store = store
        yield c


def test_videos_are_probed_exactly(client):
    videos = {v["id"]: v for v in client.get("/api/videos").json()}
    assert videos["alpha"]["frames"] == 50 and videos["alpha"]["fps"] == 25
    assert videos["beta"]["frames"] == 40 and videos["beta"]["fps"] == 30
    assert all(v["state"] == "todo" and v["glances"] == 0 for v in videos.values())
    info = client.get("/api/videos/alpha").json()
    assert info["width"] == 320 and "mediaTime" in info["frame_mapping"]
    assert len(info["times"]) == 50 and info["times"][:3] == [0.0, 0.04, 0.08] and info["version"] == 0


def test_glance_lifecycle_with_undo(client):
    post = lambda frame: client.post("/api/videos/alpha/glances", json={"annotator": "ann", "frame": frame})  # noqa: E731
    ids = [post(f).json()["id"] for f in (10, 0, 49)]
    listed = client.get("/api/videos/alpha/glances?annotator=ann").json()
    assert [g["frame"] for g in listed] == [0, 10, 49] and all(g["status"] == "proposed" for g in listed)
    assert client.get("/api/videos?annotator=ann").json()[0] | {} == {
        "id": "alpha", "frames": 50, "fps": 25.0, "duration": 2.0, "glances": 3, "state": "in_progress"}
    assert client.delete(f"/api/glances/{ids[0]}?annotator=ann").status_code == 200
    assert [g["frame"] for g in client.get("/api/videos/alpha/glances").json()] == [0, 49]
    assert client.post("/api/videos/alpha/undo", json={"annotator": "ann"}).json()["undone"]["kind"] == "delete"
    assert [g["frame"] for g in client.get("/api/videos/alpha/glances").json()] == [0, 10, 49]
    client.post("/api/videos/alpha/state", json={"annotator": "ann", "state": "done"})
    assert client.get("/api/videos/alpha?annotator=ann").json()["state"] == "done"
    assert client.post("/api/videos/alpha/undo", json={"annotator": "ann"}).json()["undone"] == {
        "kind": "state", "video": "alpha", "state": "in_progress", "new": "done",
        "message": "undid marking the video done: it is in progress again"}
    assert client.get("/api/videos/alpha?annotator=ann").json()["state"] == "in_progress"
    client.post("/api/videos/alpha/undo", json={"annotator": "ann"})  # the add of frame 49
    assert [g["frame"] for g in client.get("/api/videos/alpha/glances").json()] == [0, 10]
    # another annotator's undo never touches ann's actions
    assert client.post("/api/videos/alpha/undo", json={"annotator": "bob"}).json() == {"undone": None}


def test_review_flags_and_export(client):
    def add(who, frame, video="alpha"):
        return client.post(f"/api/videos/{video}/glances", json={"annotator": who, "frame": frame}).json()["id"]

    a1, a2, b1 = add("ann", 10), add("ann", 30), add("bob", 13)
    client.post("/api/videos/beta/state", json={"annotator": "ann", "state": "no_anomaly"})
    add("bob", 5, "beta")
    review = client.get("/api/videos/alpha/review").json()
    assert set(review["annotators"]) == {"ann", "bob"}
    assert review["duplicates"] == [[a1, b1]] and review["disagreement"] == []
    assert client.get("/api/videos/beta/review").json()["disagreement"] == ["ann"]
    client.post(f"/api/glances/{a1}/review", json={"reviewer": "rev", "status": "accepted"})
    client.post(f"/api/glances/{b1}/review", json={"reviewer": "rev", "status": "rejected"})
    client.post("/api/videos/alpha/glances", json={"annotator": "rev", "frame": 44, "status": "accepted"})
    assert client.get("/api/videos/alpha/review").json()["duplicates"] == []  # the rejected one no longer counts
    accepted = list(csv.reader(io.StringIO(client.get("/api/export").text)))
    assert accepted == [["video-id", "glance"], ["alpha", "10"], ["alpha", "44"]]
    everything = list(csv.reader(io.StringIO(client.get("/api/export?include_proposed=true").text)))
    assert everything[1:] == [["alpha", "10"], ["alpha", "30"], ["alpha", "44"], ["beta", "5"]]
    assert client.post("/api/videos/alpha/undo", json={"annotator": "rev"}).json()["undone"]["kind"] == "add"
    client.post("/api/videos/alpha/undo", json={"annotator": "rev"})  # the rejection of b1 is undone
    statuses = {g["id"]: g["status"] for g in client.get("/api/videos/alpha/glances").json()}
    assert statuses[b1] == "proposed" and statuses[a1] == "accepted" and a2 in statuses


@pytest.mark.parametrize(("method", "url", "body", "status", "fragment"), [
    ("post", "/api/videos/alpha/glances", {"annotator": "ann", "frame": 50}, 422, "outside video 'alpha' (0..49)"),
    ("post", "/api/videos/alpha/glances", {"annotator": "ann", "frame": -1}, 422, "greater than or equal"),
    ("post", "/api/videos/alpha/glances", {"annotator": "ann", "frame": "7"}, 422, "body.frame: Input should be"),
    ("post", "/api/videos/alpha/glances", {"annotator": "ann", "frame": True}, 422, "valid integer"),
    ("post", "/api/videos/alpha/glances", {"annotator": "ann", "frame": 7.0}, 422, "valid integer"),
    ("post", "/api/videos/alpha/glances", {"annotator": "ann", "frame": 2**70}, 422, "less than or equal"),
    ("post", "/api/glances/1/review", {"reviewer": "rev", "status": "accepted", "revision": -1}, 422, "body.revision"),
    ("post", "/api/videos/alpha/glances", {"annotator": "ann", "frame": 1, "version": 0}, 422, "Extra inputs"),
    ("delete", "/api/glances/99999999999999999999999?annotator=ann", None, 422, "less than or equal"),
    ("delete", "/api/glances/0?annotator=ann", None, 422, "greater than or equal"),
    ("post", "/api/glances/18446744073709551617/review", {"reviewer": "rev", "status": "accepted"}, 422, ""),
    ("delete", "/api/glances/9223372036854775807?annotator=ann", None, 404, "unknown glance"),
    ("post", "/api/videos/alpha/glances", {"annotator": "ann", "frame": 1, "x": 1}, 422, "Extra inputs"),
    ("post", "/api/videos/alpha/glances", {"annotator": "zed", "frame": 1}, 404, "unknown annotator 'zed'"),
    ("post", "/api/videos/gamma/glances", {"annotator": "ann", "frame": 1}, 404, "unknown video 'gamma'"),
    ("post", "/api/videos/alpha/state", {"annotator": "ann", "state": "finished"}, 422, "Input should be"),
    ("post", "/api/glances/999/review", {"reviewer": "rev", "status": "accepted"}, 404, "unknown glance 999"),
    ("delete", "/api/glances/abc?annotator=ann", None, 422, ""),
    ("post", "/api/annotators", {"name": "has space"}, 422, "annotator names"),
    ("get", "/api/videos?annotator=zed", None, 404, "unknown annotator"),
])
def test_requests_are_validated(client, method, url, body, status, fragment):
    response = client.request(method.upper(), url, json=body)
    assert response.status_code == status, response.text
    assert fragment in response.text


@pytest.mark.parametrize("url", [
    "/api/videos/..%2F..%2F..%2Fetc%2Fpasswd/stream",
    "/api/videos/../../etc/passwd/stream",
    "/static/../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%2F..%2Fstore.py",
    "/api/videos/%2Fetc%2Fpasswd/stream",
    "/api/videos/broken/stream",
])
def test_traversal_attempts_get_404(client, url):
    response = client.get(url)
    assert response.status_code == 404, (url, response.status_code)
    assert "root:" not in response.text


def test_a_tampered_path_outside_the_folder_is_not_served(video_dir, tmp_path):
    store = GlanceStore(tmp_path / "g.sqlite")
    scan_videos(video_dir, store)
    (tmp_path / "secret.mp4").write_bytes(b"secret")
    with sqlite3.connect(tmp_path / "g.sqlite") as db:
        db.execute("UPDATE videos SET path='../secret.mp4' WHERE id='alpha'")
    with TestClient(create_app(video_dir, store), base_url=LOCAL) as c:
        assert c.get("/api/videos/alpha/stream").status_code == 404


def test_range_requests_make_seeking_instant(client, video_dir):
    size = (video_dir / "alpha.webm").stat().st_size
    whole = client.get("/api/videos/alpha/stream")
    assert whole.status_code == 200 and len(whole.content) == size and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/webm"
    part = client.get("/api/videos/alpha/stream", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    tail = client.get("/api/videos/alpha/stream", headers={"Range": f"bytes={size - 10}-"})
    assert tail.content == whole.content[-10:]
    assert client.get("/api/videos/alpha/stream", headers={"Range": f"bytes={size + 5}-"}).status_code == 416


def test_oversize_bodies_are_refused(client):
    big = {"annotator": "ann", "frame": 1, "pad": "x" * 20_000}
    assert client.post("/api/videos/alpha/glances", json=big).status_code == 413

    def chunks():
        for _ in range(40):
            yield b"x" * 1000

    response = client.post("/api/videos/alpha/glances", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert client.get("/api/videos/alpha/glances").json() == []


def test_token_required_off_loopback(video_dir, tmp_path):
    store = GlanceStore(tmp_path / "g.sqlite")
    scan_videos(video_dir, store)
    with TestClient(create_app(video_dir, store, token="s3cret"), base_url=LOCAL) as c:
        assert c.get("/api/videos").status_code == 401
        assert c.get("/").status_code == 401
        assert c.get("/api/videos", headers={"X-Glancevad-Token": "wrong"}).status_code == 401
        assert c.get("/api/videos", headers={"X-Glancevad-Token": "s3cret"}).status_code == 200
        page = c.get("/?token=s3cret")
        assert page.status_code == 200 and "glancevad_token" in page.headers["set-cookie"]
        assert c.get("/api/videos").status_code == 200  # the cookie now carries it
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


def test_cli_import_export_round_trip(video_dir, tmp_path):
    csv_in = tmp_path / "in.csv"
    csv_in.write_text("video-id,glance\nalpha,3\nalpha,40\nbeta,0\nalpha,3\n")
    db = tmp_path / "g.sqlite"
    assert "imported 3 glances" in run("annotate", "import", csv_in, "--videos", video_dir, "--db", db).stdout
    assert "imported 0 glances" in run("annotate", "import", csv_in, "--videos", video_dir, "--db", db).stdout
    out = tmp_path / "out.csv"
    assert str(out) in run("annotate", "export", "--db", db, "--out", out).stdout
    assert out.read_text() == "video-id,glance\nalpha,3\nalpha,40\nbeta,0\n"
    bad = tmp_path / "bad.csv"
    bad.write_text("video-id,glance\nalpha,7\nalpha,999\n")
    assert_user_error(run("annotate", "import", bad, "--videos", video_dir, "--db", db, check=False),
                      "frame 999 is outside video 'alpha'")
    run("annotate", "export", "--db", db, "--out", out)
    assert out.read_text() == "video-id,glance\nalpha,3\nalpha,40\nbeta,0\n"  # all or nothing: 7 not added
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("video-id,glance\nomega,1\n")
    assert_user_error(run("annotate", "import", unknown, "--videos", video_dir, "--db", db, check=False),
                      "not in the video folder: omega")
    assert_user_error(run("annotate", "export", "--db", tmp_path / "none.sqlite", "--out", out, check=False),
                      "database not found")


def test_acknowledged_glances_survive_a_killed_server(video_dir, tmp_path):
    db = tmp_path / "g.sqlite"
    with AnnotateServer(video_dir, db) as server:
        with httpx.Client(base_url=server.url) as http:
            http.post("/api/annotators", json={"name": "ann"})
            acknowledged = 0
            for frame in range(40):
                if http.post("/api/videos/alpha/glances", json={"annotator": "ann", "frame": frame}).status_code == 201:
                    acknowledged += 1
        server.kill()  # SIGKILL: no shutdown handler runs
    assert acknowledged == 40
    stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM glances WHERE deleted IS NULL").fetchone()[0]
    assert stored == 40


def test_twenty_clients_add_one_hundred_glances_each(tmp_path):
    db = tmp_path / "g.sqlite"
    clients, per_client = 20, 100
    video_dir = tmp_path / "videos"
    video_dir.mkdir()
    write_video(video_dir / "alpha.mp4", per_client, width=64, height=48, codec="h264")  # a frame per glance
    with AnnotateServer(video_dir, db) as server:
        with httpx.Client(base_url=server.url) as http:
            for i in range(clients):
                http.post("/api/annotators", json={"name": f"c{i}"})
        statuses: list[int] = []
        lock = threading.Lock()
        barrier = threading.Barrier(clients)

        def worker(i: int) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                barrier.wait()
                for k in range(per_client):
                    code = http.post("/api/videos/alpha/glances",
                                     json={"annotator": f"c{i}", "frame": (i + k) % per_client}).status_code
                    with lock:
                        statuses.append(code)

        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        with httpx.Client(base_url=server.url) as http:
            served = sum(len(http.get(f"/api/videos/alpha/glances?annotator=c{i}").json()) for i in range(clients))
    assert statuses.count(201) == clients * per_client
    assert served == clients * per_client
    stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM glances").fetchone()[0]
    assert stored == clients * per_client
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "annotate_concurrency.txt").write_text(
        f"{clients} clients x {per_client} glances: {stored} stored in {seconds:.2f} s "
        f"({stored / seconds:.0f} acknowledged writes/s)\n")


def test_serve_user_errors(tmp_path):
    assert_user_error(run("annotate", check=False), "--videos DIR is required")
    assert_user_error(run("annotate", "--videos", tmp_path / "none", "--db", tmp_path / "g.sqlite", check=False),
                      "video folder not found")
    (tmp_path / "junk.sqlite").write_bytes(b"this is not a database at all" * 100)
    assert_user_error(run("annotate", "--videos", tmp_path, "--db", tmp_path / "junk.sqlite", check=False),
                      "not a usable SQLite database")


def test_videos_a_browser_cannot_play_get_a_frame_exact_copy(tmp_path):
    import av
    import numpy as np

    folder = tmp_path / "videos"
    folder.mkdir()
    original = write_video(folder / "gamma.avi", 37, width=250, height=180, fps=24)  # MPEG-4 part 2 in AVI
    store = GlanceStore(tmp_path / "g.sqlite")
    proxies = tmp_path / "g-proxies"
    seen = []
    count, problems = scan_videos(folder, store, proxies=proxies, on_video=lambda vid, what: seen.append(what))
    assert count == 1 and problems == [] and any("browser copy of mpeg4" in w for w in seen)
    assert store.video("gamma").proxy == "gamma.mp4" and (proxies / "gamma.mp4").is_file()
    with TestClient(create_app(folder, store, proxies=proxies), base_url=LOCAL) as c:
        info = c.get("/api/videos/gamma").json()
        assert info["browser_copy"] and info["codec"] == "mpeg4" and info["frames"] == 37 and info["fps"] == 24
        body = c.get("/api/videos/gamma/stream")
        assert body.headers["content-type"] == "video/mp4"
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(body.content)

    def frames(path):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            decoded = [f.to_ndarray(format="rgb24").astype(int) for f in container.decode(stream)]
            return stream.codec_context.name, decoded

    codec, copied = frames(copy)
    _, source = frames(original)
    assert codec == "h264" and len(copied) == len(source) == 37
    # frame i of the copy is frame i of the original (both lossy: compare the moving square's position)
    columns = [(np.argmax((a.min(axis=2) > 200).sum(axis=0)), np.argmax((b.min(axis=2) > 200).sum(axis=0)))
               for a, b in zip(copied, source, strict=True)]
    assert all(abs(x - y) <= 1 for x, y in columns) and columns[0][0] < columns[-1][0]
    # a second scan reuses the copy; without --transcode no copy is made
    before = (proxies / "gamma.mp4").stat().st_mtime_ns
    scan_videos(folder, store, proxies=proxies)
    assert (proxies / "gamma.mp4").stat().st_mtime_ns == before
    plain = GlanceStore(tmp_path / "plain.sqlite")
    scan_videos(folder, plain)
    assert plain.video("gamma").proxy is None


def test_only_reviewers_review_and_annotators_delete_only_their_own_unreviewed_glances(client):
    def add(who, frame, **extra):
        return client.post("/api/videos/alpha/glances", json={"annotator": who, "frame": frame, **extra})

    mine, theirs = add("ann", 10).json()["id"], add("bob", 12).json()["id"]
    refused = client.post(f"/api/glances/{mine}/review", json={"reviewer": "ann", "status": "accepted"})
    assert refused.status_code == 403 and "only reviewers" in refused.json()["detail"]
    assert add("ann", 20, status="accepted").status_code == 403
    other = client.delete(f"/api/glances/{theirs}?annotator=ann")
    assert other.status_code == 403 and "only they can delete it" in other.json()["detail"]
    client.post(f"/api/glances/{mine}/review", json={"reviewer": "rev", "status": "accepted"})
    reviewed = client.delete(f"/api/glances/{mine}?annotator=ann")
    assert reviewed.status_code == 403 and "already accepted" in reviewed.json()["detail"]
    assert {g["id"] for g in client.get("/api/videos/alpha/glances").json()} == {mine, theirs}
    assert client.get("/api/annotators").json() == [  # hues: golden angles in the order they joined (rev first)
        {"name": "ann", "reviewer": False, "model": False, "hue": 137.5},
        {"name": "bob", "reviewer": False, "model": False, "hue": 275.0},
        {"name": "rev", "reviewer": True, "model": False, "hue": 0.0}]


def test_keep_resolves_a_duplicate_pair_in_one_undoable_action(client):
    first = client.post("/api/videos/alpha/glances", json={"annotator": "ann", "frame": 10}).json()["id"]
    second = client.post("/api/videos/alpha/glances", json={"annotator": "bob", "frame": 12}).json()["id"]
    far = client.post("/api/videos/alpha/glances", json={"annotator": "bob", "frame": 40}).json()["id"]
    assert client.get("/api/videos/alpha/review").json()["duplicates"] == [[first, second]]
    assert client.post(f"/api/glances/{second}/keep", json={"reviewer": "bob"}).status_code == 403
    kept = client.post(f"/api/glances/{second}/keep", json={"reviewer": "rev"}).json()
    assert kept["status"] == "accepted"
    statuses = {g["id"]: g["status"] for g in client.get("/api/videos/alpha/glances").json()}
    assert statuses == {first: "rejected", second: "accepted", far: "proposed"}
    assert client.get("/api/videos/alpha/review").json()["duplicates"] == []
    undone = client.post("/api/videos/alpha/undo", json={"annotator": "rev"}).json()["undone"]
    assert undone["kind"] == "keep" and "frame 12" in undone["message"]
    assert {g["status"] for g in client.get("/api/videos/alpha/glances").json()} == {"proposed"}


def test_a_second_glance_on_the_same_frame_by_the_same_annotator_does_nothing(client):
    answers = [client.post("/api/videos/alpha/glances", json={"annotator": "ann", "frame": 17}) for _ in range(20)]
    assert [a.status_code for a in answers] == [201] + [200] * 19
    assert {a.json()["id"] for a in answers} == {answers[0].json()["id"]}
    assert [a.json()["created"] for a in answers[:2]] == [True, False]
    assert len(client.get("/api/videos/alpha/glances").json()) == 1
    assert client.get("/api/videos/alpha").json()["version"] == 1  # the refused ones wrote nothing
    assert client.post("/api/videos/alpha/glances", json={"annotator": "bob", "frame": 17}).status_code == 201
    assert client.get("/api/videos/alpha/review").json()["duplicates"] != []


def test_undo_is_per_video_and_says_what_it_undid(client):
    client.post("/api/videos/alpha/glances", json={"annotator": "ann", "frame": 5})
    client.post("/api/videos/beta/glances", json={"annotator": "ann", "frame": 7})
    undone = client.post("/api/videos/alpha/undo", json={"annotator": "ann"}).json()["undone"]
    assert undone["kind"] == "add" and undone["message"].startswith("undid adding the glance")
    assert "frame 5" in undone["message"]
    assert client.get("/api/videos/alpha/glances").json() == []
    assert [g["frame"] for g in client.get("/api/videos/beta/glances").json()] == [7]  # the other video untouched
    assert client.post("/api/videos/alpha/undo", json={"annotator": "ann"}).json() == {"undone": None}


def test_writes_conflict_only_on_the_same_glance(client):
    """Annotators adding glances never conflict; a write naming a glance's old revision does (409, with the
    glance as it is now), and the same write on the fresh revision goes through."""
    client.store.add_annotator("rev2", reviewer=True)
    add = lambda who, frame: client.post("/api/videos/alpha/glances", json={"annotator": who, "frame": frame})  # noqa: E731
    mine, theirs = add("ann", 3).json(), add("bob", 9).json()  # no version to send: both saved
    assert mine["revision"] == theirs["revision"] == 0 and add("ann", 4).status_code == 201
    accepted = client.post(f"/api/glances/{mine['id']}/review", json={"reviewer": "rev", "status": "accepted",
                                                                      "revision": 0}).json()
    assert accepted["revision"] == 1
    stale = client.post(f"/api/glances/{mine['id']}/review", json={"reviewer": "rev2", "status": "rejected",
                                                                   "revision": 0})
    assert stale.status_code == 409
    assert stale.json()["detail"] == f"glance #{mine['id']} changed since you saw it: accepted by rev"
    assert stale.json()["glance"]["status"] == "accepted" and stale.json()["glance"]["revision"] == 1
    assert len(stale.json()["current"]["glances"]) == 3
    redone = client.post(f"/api/glances/{mine['id']}/review", json={"reviewer": "rev2", "status": "rejected",
                                                                    "revision": 1})
    assert redone.status_code == 200 and redone.json()["reviewer"] == "rev2"
    assert client.delete(f"/api/glances/{theirs['id']}?annotator=bob&revision=0").status_code == 200
    gone = client.post(f"/api/glances/{theirs['id']}/review", json={"reviewer": "rev", "status": "accepted",
                                                                    "revision": 0})
    assert gone.status_code == 409 and gone.json()["glance"] is None and "deleted by bob" in gone.json()["detail"]
    unchecked = client.post(f"/api/glances/{theirs['id']}/review", json={"reviewer": "rev", "status": "accepted"})
    assert unchecked.status_code == 404 and "another tab" in unchecked.json()["detail"]
    stale_delete = client.delete(f"/api/glances/{mine['id']}?annotator=ann&revision=0")
    assert stale_delete.status_code == 409 and "rejected by rev2" in stale_delete.json()["detail"]
    assert client.get("/api/videos/alpha/version").json() == {"version": 6}  # every write counted, for the poll


def test_undo_never_wipes_someone_elses_change(client):
    glance = client.post("/api/videos/alpha/glances", json={"annotator": "ann", "frame": 5}).json()
    client.post(f"/api/glances/{glance['id']}/review", json={"reviewer": "rev", "status": "accepted"})
    refused = client.post("/api/videos/alpha/undo", json={"annotator": "ann"})
    assert refused.status_code == 409
    assert refused.json()["detail"] == (f"glance #{glance['id']} was changed by rev (review) after your add:"
                                        " not undone, so their change stays")
    assert client.get("/api/videos/alpha/glances").json()[0]["status"] == "accepted"
    for status in ("rejected", "accepted"):  # a reviewer's own changes undo one after another
        client.post(f"/api/glances/{glance['id']}/review", json={"reviewer": "rev", "status": status})
    for expected in ("rejected", "accepted", "proposed"):
        assert client.post("/api/videos/alpha/undo", json={"annotator": "rev"}).status_code == 200
        assert client.get("/api/videos/alpha/glances").json()[0]["status"] == expected
    undone = client.post("/api/videos/alpha/undo", json={"annotator": "ann"}).json()["undone"]  # rev's are undone
    assert undone["kind"] == "add" and client.get("/api/videos/alpha/glances").json() == []


def test_the_list_version_moves_with_everything_the_video_list_shows(client):
    """The page reloads its video list when /api/version moves: glances, reviews, states, assignments and
    annotators move it; reads do not."""
    def version():
        return client.get("/api/version").json()["version"]

    seen = [version()]
    client.get("/api/videos?annotator=ann")
    client.get("/api/review/pending")
    assert version() == seen[-1]
    glance = client.post("/api/videos/beta/glances", json={"annotator": "ann", "frame": 1}).json()
    seen.append(version())
    client.post(f"/api/glances/{glance['id']}/review", json={"reviewer": "rev", "status": "accepted"})
    seen.append(version())
    client.post("/api/videos/alpha/state", json={"annotator": "bob", "state": "no_anomaly"})
    seen.append(version())
    client.store.assign({"ann": ["alpha"]})
    seen.append(version())
    client.store.assign({"ann": ["beta"]}, replace=True)  # as many assignments as before: still a change
    seen.append(version())
    client.post("/api/annotators", json={"name": "newcomer"})
    seen.append(version())
    assert len(set(seen)) == len(seen), seen


def test_review_queue_and_progress(client):
    assert client.get("/api/review/next").json() == {"id": None, "reasons": []}
    client.post("/api/videos/beta/glances", json={"annotator": "ann", "frame": 1})
    assert client.get("/api/review/next").json() == {"id": "beta", "reasons": ["1 unreviewed"]}
    client.post("/api/videos/alpha/state", json={"annotator": "bob", "state": "no_anomaly"})
    client.post("/api/videos/alpha/glances", json={"annotator": "rev", "frame": 30, "status": "accepted"})
    assert client.get("/api/review/next?after=alpha").json()["id"] == "beta"
    assert client.get("/api/review/next?after=beta").json() == {"id": "alpha", "reasons": ["annotators disagree"]}
    progress = client.get("/api/progress").json()
    assert progress["bob"] == {"done": 1, "total": 2} and progress["ann"] == {"done": 0, "total": 2}


def test_a_chunked_body_over_the_limit_writes_nothing(client):
    def chunks():
        yield b'{"annotator": "ann", "frame": 4}'
        for _ in range(17):
            yield b" " * 1000

    response = client.post("/api/videos/alpha/glances", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert client.get("/api/videos/alpha/glances").json() == []


def test_numbers_json_cannot_hold_are_refused(client):
    response = client.post("/api/videos/alpha/glances", content=b'{"annotator": "ann", "frame": 1e400}',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "body.frame" in response.json()["detail"]


def test_host_header_and_security_headers(client):
    evil = client.get("/api/export", headers={"Host": "attacker.example:8765"})
    assert evil.status_code == 400 and "Host" in evil.text
    for host in ("127.0.0.1:8765", "localhost", "[::1]:8765"):
        assert client.get("/api/config", headers={"Host": host}).status_code == 200
    page = client.get("/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self' covers scripts
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["referrer-policy"] == "no-referrer"
    assert evil.headers["x-content-type-options"] == "nosniff"


def test_links_and_ids_are_handled_one_way(tmp_path, video_dir):
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "real").mkdir()
    write_video(folder / "real" / "inside.mp4", 10, codec="h264")
    (folder / "linked.mp4").symlink_to(folder / "real" / "inside.mp4")
    (folder / "outside.mp4").symlink_to(video_dir / "sub" / "beta.mp4")
    for name in ("..mp4", "...mp4", " .mp4"):
        write_video(folder / name, 3, codec="h264")
    store = GlanceStore(tmp_path / "g.sqlite")
    count, problems = scan_videos(folder, store)
    assert count == 2 and sorted(v["id"] for v in store.videos()) == ["inside", "linked"]
    text = "\n".join(problems)
    assert "outside.mp4: a link to" in text and "outside the video folder" in text
    assert "'.' cannot appear in a URL" in text and "'..' cannot appear in a URL" in text and "id is empty" in text
    with TestClient(create_app(folder, store), base_url=LOCAL) as c:
        linked = c.get("/api/videos/linked/stream")
        assert linked.status_code == 200 and linked.content == (folder / "real" / "inside.mp4").read_bytes()


def test_frame_times_keep_the_start_time_and_a_variable_rate(tmp_path):
    from fractions import Fraction

    from media import write_numbered_video

    folder = tmp_path / "videos"
    folder.mkdir()
    write_numbered_video(folder / "late.mp4", Fraction(25), 10, start=2.0)
    write_numbered_video(folder / "vfr.mp4", Fraction(30), 4, times=[0.0, 0.05, 0.07, 0.2])
    store = GlanceStore(tmp_path / "g.sqlite")
    scan_videos(folder, store)
    assert store.frame_times("late")[:3] == [2.0, 2.04, 2.08] and len(store.frame_times("late")) == 10
    assert store.frame_times("vfr") == [0.0, 0.05, 0.07, 0.2]
    assert store.seek_times("late")[:2] == [2.02, 2.06]  # a constant rate: the middle of each frame
    seeks = store.seek_times("vfr")  # a variable rate: the middle of each frame's own interval, none hidden
    assert seeks[:3] == [0.025, 0.06, 0.135] and 0.2 < seeks[3] < 0.3
    with sqlite3.connect(store.path) as db:  # a database probed by the earlier rule, which hid frame 2
        db.execute("UPDATE videos SET times=? WHERE id='vfr'",
                   ('{"times": [0.0, 0.05, 0.07, 0.2], "seeks": [0.025, 0.065, null, 0.21]}',))
    assert store.seek_times("vfr") == [0.025, 0.065, 0.135, 0.21]


def test_a_database_of_the_first_release_is_upgraded(video_dir, tmp_path):
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as old:
        old.executescript("CREATE TABLE annotators (name TEXT PRIMARY KEY, created REAL NOT NULL);"
                          "INSERT INTO annotators VALUES ('ann', 0);")
    store = GlanceStore(db)
    assert store.roles() == [{"name": "ann", "reviewer": False, "model": False, "hue": 0.0}]
    scan_videos(video_dir, store)
    assert store.version("alpha") == 0 and len(store.frame_times("alpha")) == 50
