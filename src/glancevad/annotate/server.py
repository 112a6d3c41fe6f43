"""The annotation tool's web server: a FastAPI app over :class:`GlanceStore` and the video folder.

URLs carry video ids, never paths; video bytes are served with HTTP Range support (instant
seeking); every body is validated and bounded in size; off loopback, every request needs the token.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi import Path as FastPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from glancevad.annotate.library import video_file
from glancevad.annotate.review import review_summary
from glancevad.annotate.store import STATES, Conflict, Forbidden, GlanceStore, Invalid, NotFound
from glancevad.assist.provider import ScoreProvider
from glancevad.glance.io import format_glances

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 16 * 1024
TOKEN_COOKIE = "glancevad_token"
FRAME_MAPPING = (
    "frame = the last frame whose presentation time (probed with PyAV) is at or before the time of the picture"
    " shown (requestVideoFrameCallback's mediaTime); seeking to a frame sets the middle of its display interval"
)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:;"
                               " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
Id = Annotated[int, FastPath(ge=1, le=2**63 - 1)]
Revision = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
Name = Annotated[str, Field(min_length=1, max_length=40)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AnnotatorIn(_Body):
    name: Name


class GlanceIn(_Body):
    annotator: Name
    frame: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]
    status: Literal["proposed", "accepted"] = "proposed"


class StateIn(_Body):
    annotator: Name
    state: Literal[STATES]  # type: ignore[valid-type]


class ReviewIn(_Body):
    reviewer: Name
    status: Literal["accepted", "rejected"]
    revision: Revision | None = None  # the glance's revision the page saw: a changed glance answers 409


class KeepIn(_Body):
    reviewer: Name
    revision: Revision | None = None


class MoveIn(_Body):
    reviewer: Name
    frame: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]
    revision: Revision | None = None


class WhoIn(_Body):
    annotator: Name


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BodyLimit:
    """ASGI middleware: the whole request body is read and measured before the app sees any of it.

    A body over ``limit`` bytes (declared or streamed in chunks) is answered 413 and never reaches
    a route, so nothing of it can be written. A JSON body naming one key twice, or nested too deeply
    for the parser, is answered 400 (:func:`json_body_problem`).
    """

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _too_large()(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await _too_large()(scope, receive, send)
        if (problem := json_body_problem(body)) is not None:
            return await JSONResponse({"detail": problem}, status_code=400, headers=SECURITY_HEADERS)(scope, receive,
                                                                                                    send)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for the disconnect
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _too_large() -> PlainTextResponse:
    """The 413 answer, with the headers every answer carries."""
    return PlainTextResponse("request body too large", status_code=413, headers=SECURITY_HEADERS)


def json_body_problem(body: bytes) -> str | None:
    """Why a JSON ``body`` is refused before a route reads it (``None``: it is not; not JSON: the route says so).

    A key one object names twice (JSON parsers keep either copy, so the request is ambiguous), and
    nesting too deep for Python's parser (a few kilobytes of ``[[[[...`` raise ``RecursionError``, which
    the route would answer with a 500).
    """
    import json

    class Duplicate(Exception):
        pass

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                raise Duplicate(key)
            seen[key] = value
        return seen

    if not body.strip():
        return None
    try:
        json.loads(body, object_pairs_hook=pairs)
    except Duplicate as exc:
        return f"duplicate key {exc.args[0]!r} in the request body"
    except RecursionError:
        return "the request body is nested too deeply"
    except ValueError:
        return None
    return None


def allowed_hosts(host: str) -> set[str] | None:
    """Host header names the server answers when bound to ``host``; ``None``: any IP literal as well.

    A DNS-rebinding page reaches the server under its own domain name, so a Host outside the
    loopback names and the bound name is refused. Bound to every interface (``0.0.0.0``, ``::``),
    any IP address is accepted too (the token guards that case).
    """
    names = {*LOOPBACK_NAMES, host.strip("[]").lower()}
    return None if host in ("0.0.0.0", "::", "") else names


def host_allowed(header: str, names: set[str] | None) -> bool:
    """Whether a Host header (``name[:port]``) is one of ``names`` (``None``: loopback names or any IP literal)."""
    if header.startswith("["):  # [::1]:8765
        name, _, rest = header[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else (None if not rest else "")
    else:
        name, colon, port = header.rpartition(":") if ":" in header else (header, "", None)
    if port is not None and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return False  # "127.0.0.1:abc", "127.0.0.1:", "[::1]x"
    name = name.lower()
    if names is None:
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return name in LOOPBACK_NAMES
    return name in names


def _validation_message(exc: RequestValidationError) -> str:
    """One line naming each bad field: ``body.frame: Input should be a valid integer``."""
    return "; ".join(".".join(str(part) for part in error["loc"]) + ": " + error["msg"] for error in exc.errors())


def create_app(videos: str | os.PathLike, store: GlanceStore, *, token: str | None = None,
               duplicate_frames: int = 8, proxies: str | os.PathLike | None = None,
               host: str = "127.0.0.1", scores: ScoreProvider | None = None) -> FastAPI:
    """The app serving ``videos`` (a folder already scanned into ``store``; browser copies in ``proxies``).

    ``host`` is the interface bound: requests naming another host are refused (DNS rebinding).
    ``scores``: a model's scores, drawn on the timeline (``glancevad annotate --checkpoint``).
    """
    app = FastAPI(title="glancevad annotate", docs_url=None, redoc_url=None, openapi_url=None)
    folder = Path(videos)
    names = allowed_hosts(host)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if not host_allowed(request.headers.get("host", ""), names):
            response = PlainTextResponse("unknown Host header: open the address the server printed", 400)
        elif token is not None and not secrets.compare_digest(
                (request.headers.get("x-glancevad-token") or request.cookies.get(TOKEN_COOKIE)
                 or request.query_params.get("token") or "").encode(), token.encode()):
            response = PlainTextResponse("a valid token is required", status_code=401)
        else:
            response = await call_next(request)
            if token is not None and request.query_params.get("token"):
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        response.headers.update(SECURITY_HEADERS)
        return response

    app.add_middleware(BodyLimit)  # outermost: the body is measured before any other middleware runs

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Invalid)
    async def invalid(_: Request, exc: Invalid) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "glance": exc.glance, "current": store.snapshot(exc.video_id)},
                            status_code=409)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/favicon.svg", include_in_schema=False)
    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @app.get("/api/config")
    def config() -> dict[str, Any]:
        return {"duplicate_frames": duplicate_frames, "frame_mapping": FRAME_MAPPING, "states": list(STATES),
                "model": scores.settings() if scores is not None else None}

    @app.get("/api/annotators")
    def annotators() -> list[dict[str, Any]]:
        return store.roles()

    @app.post("/api/annotators", status_code=201)
    def add_annotator(body: AnnotatorIn) -> dict[str, Any]:
        store.add_annotator(body.name)
        return {"name": body.name, "reviewer": store.is_reviewer(body.name)}

    @app.get("/api/progress")
    def progress() -> dict[str, dict[str, int]]:
        return store.progress()

    @app.get("/api/version")
    def list_version() -> dict[str, str]:
        """What the page polls to know when to reload the video list (its marks, queue and progress too)."""
        scored = f":{scores.scored_count()}" if scores is not None else ""  # the list's order by unglanced peak
        return {"version": store.list_version() + scored}

    @app.get("/api/videos")
    def list_videos(annotator: str | None = Query(None, max_length=40)) -> list[dict[str, Any]]:
        if annotator is not None:
            store.require_annotator(annotator)
        listing = store.videos(annotator)
        if scores is not None:  # "most likely unglanced anomaly first": every live glance counts
            live = store.live_frames()
            for item in listing:
                item["unglanced"] = scores.priority(item["id"], item["frames"], item["fps"], live.get(item["id"], []))
        return listing

    @app.get("/api/videos/{video_id}")
    def video_info(video_id: str, annotator: str | None = Query(None, max_length=40)) -> dict[str, Any]:
        record = store.video(video_id)
        state = store.state(video_id, store.require_annotator(annotator)) if annotator else None
        return {"id": record.id, "frames": record.frames, "fps": record.fps, "duration": record.duration,
                "width": record.width, "height": record.height, "state": state, "frame_mapping": FRAME_MAPPING,
                "codec": record.codec, "browser_copy": record.proxy is not None,
                "times": store.frame_times(video_id), "seeks": store.seek_times(video_id),
                "version": store.version(video_id)}

    @app.get("/api/videos/{video_id}/version")
    def video_version(video_id: str) -> dict[str, int]:
        return {"version": store.version(video_id)}

    @app.get("/api/videos/{video_id}/scores")
    def video_scores(video_id: str, opened: bool = False) -> dict[str, Any]:
        """``opened=true`` once when the page opens the video (it is extracted next); polls leave it out."""
        record = store.video(video_id)
        if scores is None:
            return {"state": "off", "scores": None, "peaks": []}
        return scores.video(video_id, record.frames, record.fps, opened=opened)

    @app.get("/api/videos/{video_id}/stream")
    def stream(video_id: str) -> FileResponse:
        path = video_file(folder, store, video_id, proxies)
        media = {".webm": "video/webm", ".mkv": "video/x-matroska", ".avi": "video/x-msvideo",
                 ".mov": "video/quicktime"}.get(path.suffix.lower(), "video/mp4")
        return FileResponse(path, media_type=media)

    @app.get("/api/videos/{video_id}/glances")
    def glances(video_id: str, annotator: str | None = Query(None, max_length=40)) -> list[dict[str, Any]]:
        return store.glances(video_id, annotator=annotator)

    @app.post("/api/videos/{video_id}/glances", status_code=201)
    def add_glance(video_id: str, body: GlanceIn, response: Response) -> dict[str, Any]:
        glance = store.add_glance(video_id, body.frame, body.annotator, status=body.status)
        if not glance["created"]:
            response.status_code = 200
        return glance

    @app.delete("/api/glances/{glance_id}")
    def delete_glance(glance_id: Id, annotator: str = Query(..., min_length=1, max_length=40),
                      revision: int | None = Query(None, ge=0, le=2**63 - 1)) -> dict[str, Any]:
        return store.delete_glance(glance_id, annotator, revision=revision)

    @app.post("/api/glances/{glance_id}/review")
    def review_glance(glance_id: Id, body: ReviewIn) -> dict[str, Any]:
        return store.review(glance_id, body.status, body.reviewer, revision=body.revision)

    @app.post("/api/glances/{glance_id}/move")
    def move_glance(glance_id: Id, body: MoveIn) -> dict[str, Any]:
        return store.move(glance_id, body.frame, body.reviewer, revision=body.revision)

    @app.post("/api/glances/{glance_id}/keep")
    def keep_glance(glance_id: Id, body: KeepIn) -> dict[str, Any]:
        return store.keep(glance_id, body.reviewer, duplicate_frames, revision=body.revision)

    @app.post("/api/videos/{video_id}/state")
    def set_state(video_id: str, body: StateIn) -> dict[str, Any]:
        state = store.set_state(video_id, body.annotator, body.state)
        return {"state": state, "version": store.version(video_id)}

    @app.post("/api/videos/{video_id}/undo")
    def undo(video_id: str, body: WhoIn) -> dict[str, Any]:
        return {"undone": store.undo(video_id, body.annotator)}

    @app.get("/api/videos/{video_id}/review")
    def review(video_id: str) -> dict[str, Any]:
        items = store.glances(video_id)
        states = {name: store.state(video_id, name) for name in store.annotators()}
        states = {name: state for name, state in states.items() if state != "todo"}
        return review_summary(items, states, duplicate_frames) | {"version": store.version(video_id)}

    @app.get("/api/review/next")
    def next_for_review(after: str | None = Query(None, max_length=300)) -> dict[str, Any]:
        return store.next_for_review(after, duplicate_frames) or {"id": None, "reasons": []}

    @app.get("/api/export")
    def export(include_proposed: bool = False) -> Response:
        return Response(format_glances(store.export_glances(include_proposed=include_proposed)), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="glances.csv"'})

    # -- the team: the review marks of the video list, assignments and progress -------------------

    @app.get("/api/review/pending")
    def pending_review() -> dict[str, list[str]]:
        return store.needs_review_all(duplicate_frames)

    @app.get("/api/queue")
    def queue(annotator: str = Query(..., min_length=1, max_length=40)) -> dict[str, list[str]]:
        return {"videos": store.queue(store.require_annotator(annotator))}

    @app.get("/api/progress/report")
    def progress_report() -> dict[str, list[dict[str, Any]]]:
        return store.progress_report(duplicate_frames)

    @app.get("/progress", include_in_schema=False)
    def progress_page() -> FileResponse:
        return FileResponse(STATIC / "progress.html", headers={"Cache-Control": "no-store"})

    return app


def new_token() -> str:
    return secrets.token_urlsafe(24)
