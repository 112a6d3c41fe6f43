"""Local sources for the live-detection tests: an HTTP server on 127.0.0.1 that streams a video
encoded live (frame i sent at start + i/fps), serves part of a file and then stalls, or records
POSTed JSON (a webhook)."""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
import time

import av
import numpy as np


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Chunked:
    """HTTP/1.1 chunked transfer encoding over a socket file, so a live stream has a clean end."""

    def __init__(self, wfile):
        self.wfile = wfile

    def write(self, data) -> int:
        if len(data):
            self.wfile.write(f"{len(data):x}\r\n".encode() + bytes(data) + b"\r\n")
        return len(data)

    def flush(self) -> None:
        self.wfile.flush()

    def close(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class LocalServer:
    """``GET /live.ts``: ``frames`` encoded as MPEG-TS in real time; ``GET /stall.ts``: the first
    ``stall_bytes`` of ``stall_data``, then silence; ``POST /hook``: the JSON body appended to ``posts``."""

    def __init__(self, frames: list[np.ndarray] | None = None, *, fps: int = 25, stall_data: bytes = b"",
                 stall_bytes: int = 0):
        self.frames, self.fps = frames or [], fps
        self.stall_data, self.stall_bytes = stall_data, stall_bytes
        self.posts: list[dict] = []
        self.stall_requests = 0
        self.live_started: list[float] = []   # wall time (time.time()) of frame 0 of each live stream
        self.stop = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.send_header("Connection", "close")
                if self.path == "/live.ts":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunked = _Chunked(self.wfile)
                    owner._stream_live(chunked)
                    chunked.close()
                else:
                    self.send_header("Content-Length", str(len(owner.stall_data)))
                    self.end_headers()
                if self.path == "/stall.ts":  # the first request gets part of the file, later ones nothing
                    owner.stall_requests += 1
                    self.wfile.write(owner.stall_data[: owner.stall_bytes if owner.stall_requests == 1 else 0])
                    self.wfile.flush()
                    owner.stop.wait(60)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.posts.append(json.loads(body))
                self.send_response(204)
                self.send_header("Connection", "close")
                self.end_headers()

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _stream_live(self, handle) -> None:
        container = av.open(handle, mode="w", format="mpegts")
        stream = container.add_stream("mpeg4", rate=self.fps)
        stream.width, stream.height = self.frames[0].shape[1], self.frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        started = time.time()
        self.live_started.append(started)
        try:
            for i, rgb in enumerate(self.frames):
                delay = started + i / self.fps - time.time()
                if delay > 0:
                    time.sleep(delay)
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    container.mux(packet)
                handle.flush()
            for packet in stream.encode():
                container.mux(packet)
            container.close()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


MOSQUITTO = "/usr/sbin/mosquitto"   # Debian's broker (`make mosquitto`, part of `make test`'s set-up)


class Mosquitto:
    """A real Mosquitto broker on 127.0.0.1 (a free port, anonymous), and a subscriber recording ``topic``.

    ``messages``: the JSON payloads received, in order. Skips the test when the broker is not installed.
    """

    def __init__(self, folder, topic: str = "glancevad/#"):
        import os
        import shutil
        import socket
        import subprocess

        import paho.mqtt.client as mqtt
        import pytest

        binary = MOSQUITTO if os.access(MOSQUITTO, os.X_OK) else shutil.which("mosquitto")
        if binary is None:
            pytest.skip("Mosquitto is not installed (`make mosquitto` installs Debian's package as root)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = folder / "mosquitto.conf"
        config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.messages: list[dict] = []
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda client, *args: client.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = lambda client, userdata, message: self.messages.append(json.loads(message.payload))
        deadline = time.time() + 20
        while True:
            try:
                self.client.connect("127.0.0.1", self.port)
                break
            except OSError:
                if time.time() > deadline or self.process.poll() is not None:
                    self.close()
                    raise RuntimeError(f"mosquitto did not start: {self.process.stderr.read().decode()}") from None
                time.sleep(0.1)
        self.client.loop_start()
        if not subscribed.wait(20):
            self.close()
            raise RuntimeError("the test subscriber could not subscribe")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
        self.process.terminate()
        self.process.wait(timeout=10)

    def __enter__(self) -> Mosquitto:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
