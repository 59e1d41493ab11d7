"""The FastAPI app (contract §8): the JSON API, the web page and the release's images.

Every request takes the holder's current snapshot once and answers from it, so a release
switch never mixes two releases in one answer. Photos are embedded under a semaphore
(``max_embeddings`` at a time; a request that cannot get a slot within ``queue_seconds`` gets a
503 with ``Retry-After``). Request bodies are capped before they are parsed. Handlers that only
read memory are ``async`` (no thread-pool hop); photo decoding and the model run in the thread
pool, as do image reads from the lake on a cache miss.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.imagegate import MAX_PIXELS
from pipeline.serve.search import Profile
from pipeline.serve.state import FILTER_ATTRIBUTES, ReleaseHolder, Snapshot, dumps
from pipeline.serve.uploads import FORMATS, Limits, UploadError, model_input, parse_crop

STATIC = Path(__file__).parent / "static"
MAX_K = 100
IMAGE_CACHE_ITEMS = 2048
IMAGE_CACHE_CONTROL = "public, max-age=86400"
Rows = Sequence[int] | np.ndarray
Values = Sequence[float] | np.ndarray
PAGE_CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; object-src 'none'"


# -- response models (they are the OpenAPI schema) --------------------------------------------
class AttributeValue(BaseModel):
    value: str
    confidence: float


class Offer(BaseModel):
    retailer: str
    product_id: str | None = None
    url: str | None = None
    price: float | None = None
    currency: str | None = None


class Result(BaseModel):
    item_id: str
    distance: float | None = None
    score: float | None = None
    title: str | None = None
    image_url: str
    attributes: dict[str, AttributeValue]
    offers: list[Offer]


class QueryInfo(BaseModel):
    item_id: str | None = None
    n_images: int | None = None
    attributes: dict[str, AttributeValue] | None = None


class SimilarResponse(BaseModel):
    release_id: str
    query: QueryInfo
    results: list[Result]
    no_close_match: bool
    distance_threshold: float


class ItemsResponse(BaseModel):
    release_id: str
    total: int
    results: list[Result]


class ReleaseInfo(BaseModel):
    release_id: str
    model_version: str
    n_items: int
    created_at: str
    dim: int
    metric: str
    recall_at_10: float | None = None
    filters: dict[str, list[str]]
    close_match_distance: float
    limits: dict[str, int]
    last_error: str | None = None  # why a newer release was not switched to, if one was not


# -- request guard: body limit (before any parsing) and nosniff --------------------------------
class RequestGuard:
    """ASGI middleware: 413 for a request body over ``max_bytes`` (declared or streamed);
    ``X-Content-Type-Options: nosniff`` and ``Server-Timing: app;dur=<ms>`` on every response."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = f"app;dur={1000 * (time.perf_counter() - started):.2f}".encode()
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-content-type-options", b"nosniff"),
                    (b"server-timing", took),
                ]
            await send(message)

        if scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send_guarded)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse(self._detail(int(declared)), 413)(scope, receive, send_guarded)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, self._detail(seen)["detail"])
            return message

        await self.app(scope, limited, send_guarded)

    def _detail(self, size: int) -> dict:
        return {"detail": f"request body of {size} bytes is more than the {self.max_bytes} allowed"}


# -- helpers ----------------------------------------------------------------------------------
def _snapshot(holder: ReleaseHolder) -> Snapshot:
    snapshot = holder.current
    if snapshot is None:
        raise HTTPException(503, holder.last_error or "no release loaded yet")
    return snapshot


def _filters(snapshot: Snapshot, **given: Sequence[str] | None) -> dict[str, list[str]]:
    filters = {}
    for name, wanted in given.items():
        if not wanted:
            continue
        known = set(snapshot.catalog.vocab.get(name, [])) | set(snapshot.model.attributes.get(name, []))
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise HTTPException(422, f"unknown {name} {', '.join(unknown)}; one of {', '.join(sorted(known))}")
        filters[name] = list(wanted)
    return filters


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def _answer(
    snapshot: Snapshot,
    query: bytes,
    rows: Rows,
    distances: Values,
    category: str | None,
    scores: Values | None = None,
) -> Response:
    """The ``SimilarResponse`` JSON: the envelope encoded, the results joined from the release's
    pre-rendered items."""
    threshold = snapshot.thresholds.for_category(category)
    best = min((float(d) for d in distances), default=None)
    head = dumps(
        {
            "release_id": snapshot.release_id,
            "no_close_match": best is None or round(best, 6) > threshold,
            "distance_threshold": round(threshold, 6),
        }
    )
    return _json(head[:-1] + b',"query":' + query + b',"results":' + snapshot.results(rows, distances, scores) + b"}")


def _vector_results(snapshot: Snapshot, vector: np.ndarray, k: int, filters: dict) -> tuple[Rows, Values]:
    """(rows, distances). Unfiltered: the release's ANN index; filtered: exact over the matching items only."""
    mask = snapshot.catalog.mask(filters)
    if mask is None:
        pairs = snapshot.release.neighbours_of_vector(vector, k)
        return [r for r, _ in pairs], [d for _, d in pairs]
    return snapshot.catalog.nearest(vector, k, mask)


class _Embedder:
    """The concurrency limit on model inference."""

    def __init__(self, slots: int, queue_seconds: float):
        self.slots = threading.BoundedSemaphore(slots)
        self.queue_seconds = queue_seconds

    def __call__(self, snapshot: Snapshot, pixels: np.ndarray) -> dict[str, np.ndarray]:
        if not self.slots.acquire(timeout=self.queue_seconds):
            raise HTTPException(503, "too many photos being embedded; retry shortly", headers={"Retry-After": "1"})
        try:
            return snapshot.predict(pixels)
        finally:
            self.slots.release()


def _pixels(snapshot: Snapshot, uploads: list[UploadFile], limits: Limits, crop: str | None) -> np.ndarray:
    box = parse_crop(crop)
    batch = []
    for i, upload in enumerate(uploads):
        name = (upload.filename or f"image {i + 1}")[:100]
        data = upload.file.read(limits.max_bytes + 1)  # one byte more tells "too large"
        batch.append(model_input(data, limits, snapshot.model.image_size, box, name))
    return np.stack(batch)


# -- the app ----------------------------------------------------------------------------------
def create_app(
    holder: ReleaseHolder, limits: Limits | None = None, max_embeddings: int = 2, queue_seconds: float = 10.0
) -> FastAPI:
    """The app serving ``holder``'s release; its lifespan starts and stops the holder's polling."""
    limits = limits or Limits()
    embed = _Embedder(max_embeddings, queue_seconds)
    images: OrderedDict[str, bytes] = OrderedDict()
    images_lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        holder.start()
        yield
        holder.stop()

    app = FastAPI(
        title="Vitrine visual search",
        version="1",
        description="Visually similar catalog items, with attributes and offers, from the latest release.",
        lifespan=lifespan,
    )
    app.add_middleware(RequestGuard, max_bytes=limits.max_request_bytes)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, exc: UploadError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(
            STATIC / "index.html", headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"}
        )

    @app.get("/healthz", tags=["operations"], summary="200 while the process is up")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="200 once a verified release is loaded")
    async def readyz() -> JSONResponse:
        snapshot = holder.current
        if snapshot is None:
            return JSONResponse({"detail": holder.last_error or "no release loaded yet"}, 503)
        return JSONResponse({"status": "ready", "release_id": snapshot.release_id})

    @app.get("/api/release", response_model=ReleaseInfo, tags=["search"])
    async def release() -> dict:
        snapshot = _snapshot(holder)
        m = snapshot.release.manifest
        return {
            "release_id": snapshot.release_id,
            "model_version": m["model_version"],
            "n_items": m["n_items"],
            "created_at": m["created_at"],
            "dim": m["dim"],
            "metric": m["metric"],
            "recall_at_10": m.get("recall_at_10"),
            "filters": {a: snapshot.catalog.vocab[a] for a in FILTER_ATTRIBUTES if a in snapshot.catalog.vocab},
            "close_match_distance": round(snapshot.thresholds.overall, 6),
            "limits": {
                "max_request_bytes": limits.max_request_bytes,
                "max_bytes": limits.max_bytes,
                "max_pixels": MAX_PIXELS,
                "max_images": limits.max_images,
                "max_k": MAX_K,
            },
            "last_error": holder.last_error,
        }

    @app.get(
        "/api/items",
        response_model=ItemsResponse,
        tags=["search"],
        summary="Browse catalog items (title search), to pick one as a query",
    )
    async def items(
        q: Annotated[str, Query(max_length=200)] = "",
        limit: Annotated[int, Query(ge=1, le=MAX_K)] = 24,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Response:
        snapshot = _snapshot(holder)
        words = q.lower().split()
        rows = [i for i, t in enumerate(snapshot.titles) if all(w in t for w in words)]
        results = b",".join(snapshot.items_json[r] for r in rows[offset : offset + limit])
        head = dumps({"release_id": snapshot.release_id, "total": len(rows)})
        return _json(head[:-1] + b',"results":[' + results + b"]}")

    @app.get("/api/items/{item_id}", response_model=Result, tags=["search"])
    async def item(item_id: str) -> Response:
        snapshot = _snapshot(holder)
        return _json(snapshot.items_json[_row_of(snapshot, item_id)])

    @app.get("/api/similar", response_model=SimilarResponse, tags=["search"], summary="Items similar to a catalog item")
    async def similar_item(
        item_id: Annotated[str, Query(max_length=200)],
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        category: Annotated[list[str] | None, Query()] = None,
        color: Annotated[list[str] | None, Query()] = None,
        pattern: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        snapshot = _snapshot(holder)
        filters = _filters(snapshot, category=category, color=color, pattern=pattern)
        row = _row_of(snapshot, item_id)
        rows: Rows
        distances: Values
        if filters:
            mask = snapshot.catalog.mask(filters)
            rows, distances = snapshot.catalog.nearest(snapshot.catalog.vectors[row], k, mask, exclude=row)
        else:
            pairs = snapshot.release.neighbours(item_id, k)
            rows, distances = [r for r, _ in pairs], [d for _, d in pairs]
        query = b'{"item_id":' + dumps(item_id) + b',"attributes":' + snapshot.attributes_json[row] + b"}"
        return _answer(snapshot, query, rows, distances, snapshot.category_of(row))

    @app.post(
        "/api/similar",
        response_model=SimilarResponse,
        tags=["search"],
        summary="Items similar to an uploaded photo (optionally cropped)",
    )
    def similar_image(
        image: Annotated[UploadFile, File(description="the query photo")],
        k: Annotated[int, Form(ge=1, le=MAX_K)] = 10,
        crop: Annotated[str | None, Form(description="x0,y0,x1,y1 as fractions")] = None,
        category: Annotated[list[str] | None, Form()] = None,
        color: Annotated[list[str] | None, Form()] = None,
        pattern: Annotated[list[str] | None, Form()] = None,
    ) -> Response:
        snapshot = _snapshot(holder)
        filters = _filters(snapshot, category=category, color=color, pattern=pattern)
        outputs = embed(snapshot, _pixels(snapshot, [image], limits, crop))
        attributes = snapshot.query_attributes(outputs, 0)
        rows, distances = _vector_results(snapshot, outputs["embedding"][0], k, filters)
        category_value = (attributes.get("category") or {}).get("value")
        return _answer(snapshot, dumps({"attributes": attributes}), rows, distances, category_value)

    @app.post(
        "/api/profile",
        response_model=SimilarResponse,
        tags=["search"],
        summary="Recommendations for a style profile built from several photos",
    )
    def profile(
        images: Annotated[list[UploadFile], File(description="the photos (repeat the field)")],
        k: Annotated[int, Form(ge=1, le=MAX_K)] = 10,
        category: Annotated[list[str] | None, Form()] = None,
        color: Annotated[list[str] | None, Form()] = None,
        pattern: Annotated[list[str] | None, Form()] = None,
    ) -> Response:
        snapshot = _snapshot(holder)
        if len(images) > limits.max_images:
            raise HTTPException(413, f"{len(images)} photos; a profile takes at most {limits.max_images}")
        filters = _filters(snapshot, category=category, color=color, pattern=pattern)
        outputs = embed(snapshot, _pixels(snapshot, images, limits, None))
        model = snapshot.model
        style = Profile.from_predictions(
            outputs["embedding"], {a: outputs[a] for a in model.attributes}, model.attributes
        )
        rows, scores, distances = snapshot.catalog.rank_profile(style, k, snapshot.catalog.mask(filters))
        majority = style.majority()
        attributes = {
            name: {"value": value, "confidence": round(style.votes[name][value], 4)} for name, value in majority.items()
        }
        query = dumps({"n_images": len(images), "attributes": attributes})
        return _answer(snapshot, query, rows, distances, majority.get("category"), scores)

    @app.get(
        "/images/{item_id}",
        tags=["images"],
        summary="An item's image, from the release's own image key",
        responses={200: {"content": {m: {} for m in FORMATS.values()}}, 304: {}, 404: {}},
    )
    async def item_image(item_id: str, request: Request) -> Response:
        snapshot = _snapshot(holder)
        row = _row_of(snapshot, item_id)
        key = snapshot.image_keys[row]
        if not key or not key.startswith("images/") or ".." in key.split("/"):
            raise HTTPException(404, f"item {item_id!r} has no image in release {snapshot.release_id}")
        etag = f'"{Path(key).stem}"'  # keys are content-addressed
        headers = {"Cache-Control": IMAGE_CACHE_CONTROL, "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        cache_key = f"{snapshot.release.lake.root}|{key}"
        with images_lock:
            data = images.get(cache_key)
            if data is not None:
                images.move_to_end(cache_key)
        if data is None:
            data = await run_in_threadpool(snapshot.release.lake.read_bytes, key)  # file or S3: off the loop
            with images_lock:
                images[cache_key] = data
                while len(images) > IMAGE_CACHE_ITEMS:
                    images.popitem(last=False)
        return Response(data, media_type=_media_type(data), headers=headers)

    return app


def _row_of(snapshot: Snapshot, item_id: str) -> int:
    try:
        return snapshot.catalog.row[item_id]
    except KeyError:
        raise HTTPException(404, f"item {item_id!r} is not in release {snapshot.release_id}") from None


def _media_type(data: bytes) -> str:
    signatures = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG": "image/png", b"GIF8": "image/gif", b"BM": "image/bmp"}
    for magic, media in signatures.items():
        if data.startswith(magic):
            return media
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"
