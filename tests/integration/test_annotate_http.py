"""The annotation server's HTTP edges: duplicate JSON keys, deep nesting, 413's headers, Host ports, the favicon."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from glancevad.annotate.library import scan_videos
from glancevad.annotate.server import SECURITY_HEADERS, create_app, host_allowed, json_body_problem
from glancevad.annotate.store import GlanceStore
from media import write_video


@pytest.fixture
def client(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(folder / "alpha.webm", 30, codec="libvpx")
    store = GlanceStore(tmp_path / "g.sqlite")
    scan_videos(folder, store)
    store.add_annotator("ann")
    with TestClient(create_app(folder, store), base_url="http://127.0.0.1") as c:
        yield c, store


def test_duplicate_json_keys_are_refused_naming_the_key(client):
    c, store = client
    body = b'{"annotator": "ann", "frame": 3, "frame": 9}'
    response = c.post("/api/videos/alpha/glances", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json() == {"detail": "duplicate key 'frame' in the request body"}
    assert response.headers["x-content-type-options"] == "nosniff"
    assert store.glances("alpha") == []  # nothing stored
    assert json_body_problem(b'{"a": {"b": 1, "b": 2}}') == "duplicate key 'b' in the request body"  # nested too
    assert json_body_problem(b'{"a": 1, "b": [{"a": 2}]}') is None and json_body_problem(b"not json") is None
    ok = c.post("/api/videos/alpha/glances", json={"annotator": "ann", "frame": 3})
    assert ok.status_code == 201


@pytest.mark.parametrize("body", [b"[" * 2000 + b"]" * 2000, b'{"a":' * 1500 + b"1" + b"}" * 1500,
                                  b'{"annotator": "ann", "frame": ' + b"[" * 2000 + b"]" * 2000 + b"}"])
def test_a_deeply_nested_body_is_a_400_with_the_security_headers(client, body):
    """A few kilobytes nested ~2000 deep made json.loads raise RecursionError: a 500 without the headers."""
    c, store = client
    assert len(body) < 16 * 1024  # under the size limit: the nesting alone is refused
    response = c.post("/api/videos/alpha/glances", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json() == {"detail": "the request body is nested too deeply"}
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert store.glances("alpha") == []


def test_413_answers_carry_the_security_headers(client):
    c, _ = client
    declared = c.post("/api/videos/alpha/glances", content=b"x" * 20_000, headers={"content-type": "application/json"})
    streamed = c.post("/api/videos/alpha/glances", content=iter([b"x" * 10_000, b"x" * 10_000]),
                      headers={"content-type": "application/json"})
    for response in (declared, streamed):
        assert response.status_code == 413
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value


def test_a_host_header_with_a_bad_port_is_refused(client):
    c, _ = client
    for host in ("127.0.0.1:abc", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "[::1]:x", "[::1]junk"):
        assert c.get("/api/config", headers={"Host": host}).status_code == 400, host
    for host in ("127.0.0.1:8765", "127.0.0.1", "[::1]:8765", "[::1]", "localhost:1"):
        assert c.get("/api/config", headers={"Host": host}).status_code == 200, host
    assert not host_allowed("10.0.0.1:８０", None)  # digits outside ASCII are no port


def test_a_favicon_is_served(client):
    c, _ = client
    for path in ("/favicon.ico", "/favicon.svg"):
        response = c.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
        assert response.text.startswith("<svg")
    assert 'rel="icon" href="/favicon.svg"' in c.get("/").text
