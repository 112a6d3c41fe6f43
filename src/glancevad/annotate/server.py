"""The annotation tool's web server: a FastAPI app over :class:`GlanceStore` and the video folder.

URLs carry video ids, never paths; video bytes are served with HTTP Range support (instant
seeking); every body is validated and bounded in size; off loopback, every request needs the token.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from glancevad.annotate.library import video_file
from glancevad.annotate.review import review_summary
from glancevad.annotate.store import STATES, GlanceStore, Invalid, NotFound
from glancevad.glance.io import format_glances

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 16 * 1024
TOKEN_COOKIE = "glancevad_token"
FRAME_MAPPING = (
    "frame = floor(t × fps + 1e-6), t = the player's media time in seconds; seeking to frame f sets t = (f + 0.5) / fps"
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnnotatorIn(_Body):
    name: str = Field(min_length=1, max_length=40)


class GlanceIn(_Body):
    annotator: str = Field(min_length=1, max_length=40)
    frame: int = Field(ge=0, le=2**31 - 1)
    status: Literal["proposed", "accepted"] = "proposed"


class StateIn(_Body):
    annotator: str = Field(min_length=1, max_length=40)
    state: Literal[STATES]  # type: ignore[valid-type]


class ReviewIn(_Body):
    reviewer: str = Field(min_length=1, max_length=40)
    status: Literal["accepted", "rejected"]


class WhoIn(_Body):
    annotator: str = Field(min_length=1, max_length=40)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413 (declared or streamed)."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await PlainTextResponse("request body too large", status_code=413)(scope, receive, send)
        received, too_large = 0, False

        async def limited_receive():
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:  # a body without Content-Length that keeps coming: cut it off
                too_large = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message):
            if not too_large:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)
        if too_large:
            await PlainTextResponse("request body too large", status_code=413)(scope, receive, send)


def create_app(videos: str | os.PathLike, store: GlanceStore, *, token: str | None = None,
               duplicate_frames: int = 8, proxies: str | os.PathLike | None = None) -> FastAPI:
    """The app serving ``videos`` (a folder already scanned into ``store``; browser copies in ``proxies``)."""
    app = FastAPI(title="glancevad annotate", docs_url=None, redoc_url=None, openapi_url=None)
    folder = Path(videos)
    app.add_middleware(BodyLimit)

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if token is None:
            return await call_next(request)
        offered = (request.headers.get("x-glancevad-token") or request.cookies.get(TOKEN_COOKIE)
                   or request.query_params.get("token") or "")
        if not secrets.compare_digest(offered.encode(), token.encode()):
            return PlainTextResponse("a valid token is required", status_code=401)
        response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Invalid)
    async def invalid(_: Request, exc: Invalid) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/config")
    def config() -> dict[str, Any]:
        return {"duplicate_frames": duplicate_frames, "frame_mapping": FRAME_MAPPING, "states": list(STATES)}

    @app.get("/api/annotators")
    def annotators() -> list[str]:
        return store.annotators()

    @app.post("/api/annotators", status_code=201)
    def add_annotator(body: AnnotatorIn) -> dict[str, str]:
        return {"name": store.add_annotator(body.name)}

    @app.get("/api/videos")
    def list_videos(annotator: str | None = Query(None, max_length=40)) -> list[dict[str, Any]]:
        if annotator is not None:
            store.require_annotator(annotator)
        return store.videos(annotator)

    @app.get("/api/videos/{video_id}")
    def video_info(video_id: str, annotator: str | None = Query(None, max_length=40)) -> dict[str, Any]:
        record = store.video(video_id)
        state = store.state(video_id, store.require_annotator(annotator)) if annotator else None
        return {"id": record.id, "frames": record.frames, "fps": record.fps, "duration": record.duration,
                "width": record.width, "height": record.height, "state": state, "frame_mapping": FRAME_MAPPING,
                "codec": record.codec, "browser_copy": record.proxy is not None}

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
    def add_glance(video_id: str, body: GlanceIn) -> dict[str, Any]:
        return store.add_glance(video_id, body.frame, body.annotator, status=body.status)

    @app.delete("/api/glances/{glance_id}")
    def delete_glance(glance_id: int, annotator: str = Query(..., min_length=1, max_length=40)) -> dict[str, Any]:
        return store.delete_glance(glance_id, annotator)

    @app.post("/api/glances/{glance_id}/review")
    def review_glance(glance_id: int, body: ReviewIn) -> dict[str, Any]:
        return store.review(glance_id, body.status, body.reviewer)

    @app.post("/api/videos/{video_id}/state")
    def set_state(video_id: str, body: StateIn) -> dict[str, str]:
        return {"state": store.set_state(video_id, body.annotator, body.state)}

    @app.post("/api/undo")
    def undo(body: WhoIn) -> dict[str, Any]:
        return {"undone": store.undo(body.annotator)}

    @app.get("/api/videos/{video_id}/review")
    def review(video_id: str) -> dict[str, Any]:
        items = store.glances(video_id)
        states = {name: store.state(video_id, name) for name in store.annotators()}
        states = {name: state for name, state in states.items() if state != "todo"}
        return review_summary(items, states, duplicate_frames)

    @app.get("/api/export")
    def export(include_proposed: bool = False) -> Response:
        return Response(format_glances(store.export_glances(include_proposed=include_proposed)), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="glances.csv"'})

    return app


def new_token() -> str:
    return secrets.token_urlsafe(24)
