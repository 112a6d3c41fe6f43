"""The annotation tool's JSON API, as FastAPI routers grouped by what they serve.

:func:`glancevad.annotate.server.create_app` includes every router of :data:`ROUTERS` and adds
the pages, the security middleware and the error handlers. Each router is built over one
:class:`AnnotationApi` (the store, the video folder, the model's scores); request bodies are
strict pydantic models with bounded fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi import Path as FastPath
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from glancevad.annotate.library import video_file
from glancevad.annotate.review import review_summary
from glancevad.annotate.store import STATES, GlanceStore
from glancevad.assist.provider import ScoreProvider
from glancevad.glance.io import format_glances

FRAME_MAPPING = (
    "frame = the last frame whose presentation time (probed with PyAV) is at or before the time of the picture"
    " shown (requestVideoFrameCallback's mediaTime); seeking to a frame sets the middle of its display interval"
)
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

@dataclass(frozen=True)
class AnnotationApi:
    """What the routes serve: the store, the video folder (browser copies in ``proxies``), the
    model's scores (``None``: no ``--checkpoint``) and the frames within which glances are duplicates."""

    store: GlanceStore
    folder: Path
    proxies: Path | None = None
    scores: ScoreProvider | None = None
    duplicate_frames: int = 8


def videos_router(api: AnnotationApi) -> APIRouter:
    """The video list and each video: its facts, its file (HTTP Range), its scores, the versions pages poll."""
    router = APIRouter()

    @router.get("/api/version")
    def list_version() -> dict[str, str]:
        """What the page polls to know when to reload the video list (its marks, queue and progress too)."""
        scored = f":{api.scores.scored_count()}" if api.scores is not None else ""  # the list's order by unglanced peak
        return {"version": api.store.list_version() + scored}

    @router.get("/api/videos")
    def list_videos(annotator: str | None = Query(None, max_length=40)) -> list[dict[str, Any]]:
        if annotator is not None:
            api.store.require_annotator(annotator)
        listing = api.store.videos(annotator)
        if api.scores is not None:  # "most likely unglanced anomaly first": every live glance counts
            live = api.store.live_frames()
            for item in listing:
                item["unglanced"] = api.scores.priority(item["id"], item["frames"], item["fps"],
                                                        live.get(item["id"], []))
        return listing

    @router.get("/api/videos/{video_id}")
    def video_info(video_id: str, annotator: str | None = Query(None, max_length=40)) -> dict[str, Any]:
        record = api.store.video(video_id)
        state = api.store.state(video_id, api.store.require_annotator(annotator)) if annotator else None
        return {"id": record.id, "frames": record.frames, "fps": record.fps, "duration": record.duration,
                "width": record.width, "height": record.height, "state": state, "frame_mapping": FRAME_MAPPING,
                "codec": record.codec, "browser_copy": record.proxy is not None,
                "times": api.store.frame_times(video_id), "seeks": api.store.seek_times(video_id),
                "version": api.store.version(video_id)}

    @router.get("/api/videos/{video_id}/version")
    def video_version(video_id: str) -> dict[str, int]:
        return {"version": api.store.version(video_id)}

    @router.get("/api/videos/{video_id}/scores")
    def video_scores(video_id: str, opened: bool = False) -> dict[str, Any]:
        """``opened=true`` once when the page opens the video (it is extracted next); polls leave it out."""
        record = api.store.video(video_id)
        if api.scores is None:
            return {"state": "off", "scores": None, "peaks": []}
        return api.scores.video(video_id, record.frames, record.fps, opened=opened)

    @router.get("/api/videos/{video_id}/stream")
    def stream(video_id: str) -> FileResponse:
        path = video_file(api.folder, api.store, video_id, api.proxies)
        media = {".webm": "video/webm", ".mkv": "video/x-matroska", ".avi": "video/x-msvideo",
                 ".mov": "video/quicktime"}.get(path.suffix.lower(), "video/mp4")
        return FileResponse(path, media_type=media)

    return router


def glances_router(api: AnnotationApi) -> APIRouter:
    """Glances and the actions on them: add, delete, review, move, keep; a video's state and undo."""
    router = APIRouter()

    @router.get("/api/videos/{video_id}/glances")
    def glances(video_id: str, annotator: str | None = Query(None, max_length=40)) -> list[dict[str, Any]]:
        return api.store.glances(video_id, annotator=annotator)

    @router.post("/api/videos/{video_id}/glances", status_code=201)
    def add_glance(video_id: str, body: GlanceIn, response: Response) -> dict[str, Any]:
        glance = api.store.add_glance(video_id, body.frame, body.annotator, status=body.status)
        if not glance["created"]:
            response.status_code = 200
        return glance

    @router.delete("/api/glances/{glance_id}")
    def delete_glance(glance_id: Id, annotator: str = Query(..., min_length=1, max_length=40),
                      revision: int | None = Query(None, ge=0, le=2**63 - 1)) -> dict[str, Any]:
        return api.store.delete_glance(glance_id, annotator, revision=revision)

    @router.post("/api/glances/{glance_id}/review")
    def review_glance(glance_id: Id, body: ReviewIn) -> dict[str, Any]:
        return api.store.review(glance_id, body.status, body.reviewer, revision=body.revision)

    @router.post("/api/glances/{glance_id}/move")
    def move_glance(glance_id: Id, body: MoveIn) -> dict[str, Any]:
        return api.store.move(glance_id, body.frame, body.reviewer, revision=body.revision)

    @router.post("/api/glances/{glance_id}/keep")
    def keep_glance(glance_id: Id, body: KeepIn) -> dict[str, Any]:
        return api.store.keep(glance_id, body.reviewer, api.duplicate_frames, revision=body.revision)

    @router.post("/api/videos/{video_id}/state")
    def set_state(video_id: str, body: StateIn) -> dict[str, Any]:
        state = api.store.set_state(video_id, body.annotator, body.state)
        return {"state": state, "version": api.store.version(video_id)}

    @router.post("/api/videos/{video_id}/undo")
    def undo(video_id: str, body: WhoIn) -> dict[str, Any]:
        return {"undone": api.store.undo(video_id, body.annotator)}

    return router


def review_router(api: AnnotationApi) -> APIRouter:
    """What needs review: one video's summary, the next video, the pending marks, the export."""
    router = APIRouter()

    @router.get("/api/videos/{video_id}/review")
    def review(video_id: str) -> dict[str, Any]:
        items = api.store.glances(video_id)
        states = {name: api.store.state(video_id, name) for name in api.store.annotators()}
        states = {name: state for name, state in states.items() if state != "todo"}
        return review_summary(items, states, api.duplicate_frames) | {"version": api.store.version(video_id)}

    @router.get("/api/review/next")
    def next_for_review(after: str | None = Query(None, max_length=300)) -> dict[str, Any]:
        return api.store.next_for_review(after, api.duplicate_frames) or {"id": None, "reasons": []}

    @router.get("/api/review/pending")
    def pending_review() -> dict[str, list[str]]:
        return api.store.needs_review_all(api.duplicate_frames)

    @router.get("/api/export")
    def export(include_proposed: bool = False) -> Response:
        text = format_glances(api.store.export_glances(include_proposed=include_proposed))
        return Response(text, media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="glances.csv"'})

    return router


def team_router(api: AnnotationApi) -> APIRouter:
    """The team: annotators, assignments (queues) and progress."""
    router = APIRouter()

    @router.get("/api/annotators")
    def annotators() -> list[dict[str, Any]]:
        return api.store.roles()

    @router.post("/api/annotators", status_code=201)
    def add_annotator(body: AnnotatorIn) -> dict[str, Any]:
        api.store.add_annotator(body.name)
        return {"name": body.name, "reviewer": api.store.is_reviewer(body.name)}

    @router.get("/api/progress")
    def progress() -> dict[str, dict[str, int]]:
        return api.store.progress()

    @router.get("/api/queue")
    def queue(annotator: str = Query(..., min_length=1, max_length=40)) -> dict[str, list[str]]:
        return {"videos": api.store.queue(api.store.require_annotator(annotator))}

    @router.get("/api/progress/report")
    def progress_report() -> dict[str, list[dict[str, Any]]]:
        return api.store.progress_report(api.duplicate_frames)

    return router

#: Every router of the API, in the order they are included.
ROUTERS = (videos_router, glances_router, review_router, team_router)
