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
    with TestClient(create_app(video_dir, store, duplicate_frames=5)) as c:
        for name in ("ann", "bob", "rev"):
            assert c.post("/api/annotators", json={"name": name}).status_code == 201
        yield c


def test_videos_are_probed_exactly(client):
    videos = {v["id"]: v for v in client.get("/api/videos").json()}
    assert videos["alpha"]["frames"] == 50 and videos["alpha"]["fps"] == 25
    assert videos["beta"]["frames"] == 40 and videos["beta"]["fps"] == 30
    assert all(v["state"] == "todo" and v["glances"] == 0 for v in videos.values())
    info = client.get("/api/videos/alpha").json()
    assert info["width"] == 320 and "floor(t × fps" in info["frame_mapping"]


def test_glance_lifecycle_with_undo(client):
    post = lambda frame: client.post("/api/videos/alpha/glances", json={"annotator": "ann", "frame": frame})  # noqa: E731
    ids = [post(f).json()["id"] for f in (10, 0, 49)]
    listed = client.get("/api/videos/alpha/glances?annotator=ann").json()
    assert [g["frame"] for g in listed] == [0, 10, 49] and all(g["status"] == "proposed" for g in listed)
    assert client.get("/api/videos?annotator=ann").json()[0] | {} == {
        "id": "alpha", "frames": 50, "fps": 25.0, "duration": 2.0, "glances": 3, "state": "in_progress"}
    assert client.delete(f"/api/glances/{ids[0]}?annotator=ann").status_code == 200
    assert [g["frame"] for g in client.get("/api/videos/alpha/glances").json()] == [0, 49]
    assert client.post("/api/undo", json={"annotator": "ann"}).json()["undone"]["kind"] == "delete"
    assert [g["frame"] for g in client.get("/api/videos/alpha/glances").json()] == [0, 10, 49]
    client.post("/api/videos/alpha/state", json={"annotator": "ann", "state": "done"})
    assert client.get("/api/videos/alpha?annotator=ann").json()["state"] == "done"
    assert client.post("/api/undo", json={"annotator": "ann"}).json()["undone"] == {
        "kind": "state", "video": "alpha", "state": "in_progress"}
    assert client.get("/api/videos/alpha?annotator=ann").json()["state"] == "in_progress"
    client.post("/api/undo", json={"annotator": "ann"})  # the add of frame 49
    assert [g["frame"] for g in client.get("/api/videos/alpha/glances").json()] == [0, 10]
    # another annotator's undo never touches ann's actions
    assert client.post("/api/undo", json={"annotator": "bob"}).json() == {"undone": None}


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
    assert client.post("/api/undo", json={"annotator": "rev"}).json()["undone"]["kind"] == "add"
    client.post("/api/undo", json={"annotator": "rev"})  # the rejection of b1 is undone
    statuses = {g["id"]: g["status"] for g in client.get("/api/videos/alpha/glances").json()}
    assert statuses[b1] == "proposed" and statuses[a1] == "accepted" and a2 in statuses


@pytest.mark.parametrize(("method", "url", "body", "status", "fragment"), [
    ("post", "/api/videos/alpha/glances", {"annotator": "ann", "frame": 50}, 422, "outside video 'alpha' (0..49)"),
    ("post", "/api/videos/alpha/glances", {"annotator": "ann", "frame": -1}, 422, "greater than or equal"),
    ("post", "/api/videos/alpha/glances", {"annotator": "ann", "frame": "7"}, 201, ""),
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
    with TestClient(create_app(video_dir, store)) as c:
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
    with TestClient(create_app(video_dir, store, token="s3cret")) as c:
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


def test_twenty_clients_add_one_hundred_glances_each(video_dir, tmp_path):
    db = tmp_path / "g.sqlite"
    clients, per_client = 20, 100
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
                                     json={"annotator": f"c{i}", "frame": (i + k) % 50}).status_code
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
    with TestClient(create_app(folder, store, proxies=proxies)) as c:
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
