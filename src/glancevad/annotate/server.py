"""The annotation tool's web server: a FastAPI app over :class:`GlanceStore` and the video folder.

The app: the pages, the security (host check, token, body limit, headers), the error handlers,
and the JSON API's routers (:mod:`glancevad.annotate.routes`).

URLs carry video ids, never paths; video bytes are served with HTTP Range support (instant
seeking); every body is validated and bounded in size; off loopback, every request needs the token.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from glancevad.annotate.routes import FRAME_MAPPING, ROUTERS, AnnotationApi
from glancevad.annotate.store import STATES, Conflict, Forbidden, GlanceStore, Invalid, NotFound
from glancevad.assist.provider import ScoreProvider

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 16 * 1024
TOKEN_COOKIE = "glancevad_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:;"
                               " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
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

    api = AnnotationApi(store, folder, Path(proxies) if proxies is not None else None, scores, duplicate_frames)
    for router in ROUTERS:
        app.include_router(router(api))

    @app.get("/progress", include_in_schema=False)
    def progress_page() -> FileResponse:
        return FileResponse(STATIC / "progress.html", headers={"Cache-Control": "no-store"})

    return app


def new_token() -> str:
    return secrets.token_urlsafe(24)
