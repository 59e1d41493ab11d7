"""The release the app serves, held in memory, and the switch to a new one.

A ``Snapshot`` is everything one release needs to answer queries: the verified
``pipeline.client.Release`` (Annoy index memory-mapped), its model loaded once (a compiled
``tf.function``, warmed up, so a photo costs milliseconds, not a TensorFlow start), the vectors
and attributes as arrays for pre-filtered ranking, every item's answer rendered to JSON once,
and the calibrated "no close match" thresholds. ``ReleaseHolder`` polls ``releases/latest.json``; when it moves, the new release is
downloaded, verified and fully built *beside* the current one, then swapped in by one reference
assignment. A request takes the snapshot once at its start, so requests in flight finish on the
old release; a release that fails to verify or load is logged and never switched to.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa

from pipeline import layout
from pipeline.client import Release, latest_release_id
from pipeline.lake import Lake
from pipeline.serve.search import Catalog, Thresholds

log = logging.getLogger(__name__)

FILTER_ATTRIBUTES = ("category", "color", "pattern")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as Starlette's ``JSONResponse`` writes it."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@dataclass
class Snapshot:
    """One loaded release with its model, search arrays and every item's answer pre-rendered.

    ``items_json[row]`` is the item's result object (contract §8) without distance and
    ``attributes_json[row]`` its attributes, both as JSON bytes built once per release, so an
    answer is the items' bytes joined: no Parquet row, dict or JSON encoding per result.
    """

    release: Release
    model: Any  # pipeline.registry.LoadedModel
    catalog: Catalog
    thresholds: Thresholds
    infer: Any  # float32 (N, S, S, 3) in [0, 255] → {"embedding": (N, D), attr: (N, n_values)}
    items_json: list[bytes]
    attributes_json: list[bytes]
    titles: list[str]  # lower-cased, for the title search
    image_keys: list[str | None]

    @property
    def release_id(self) -> str:
        return self.release.release_id

    def results(self, rows: Any, distances: Any, scores: Any = None) -> bytes:
        """The JSON array of result objects for rows with their distances (and profile scores)."""
        parts = []
        for i, (row, distance) in enumerate(zip(rows, distances)):
            head = f'{{"distance":{round(float(distance), 6)!r}'
            if scores is not None:
                head += f',"score":{round(float(scores[i]), 6)!r}'
            parts.append(head.encode() + b"," + self.items_json[int(row)][1:])
        return b"[" + b",".join(parts) + b"]"

    def category_of(self, row: int) -> str | None:
        """The item's category value (its "no close match" threshold), None when untagged."""
        codes = self.catalog.codes.get("category")
        code = -1 if codes is None else int(codes[row])
        return self.catalog.vocab["category"][code] if code >= 0 else None

    def predict(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """Model outputs for a batch of letterboxed uint8 photos."""
        out = self.infer(np.asarray(pixels, np.float32))
        return {name: np.asarray(value) for name, value in out.items()}

    def query_attributes(self, outputs: dict[str, np.ndarray], row: int) -> dict[str, dict]:
        """``{A: {value, confidence}}`` of one photo of a batch."""
        result = {}
        for name, values in self.model.attributes.items():
            probs = outputs[name][row]
            best = int(np.argmax(probs))
            result[name] = {"value": values[best], "confidence": round(float(probs[best]), 4)}
        return result


def render_items(
    items: pa.Table, values: dict[str, list[str | None]], confidences: dict[str, list[float | None]]
) -> tuple[list[bytes], list[bytes]]:
    """Every item's result object (without distance) and attributes object as JSON bytes.

    ``values``/``confidences``: per attribute, aligned with ``items``' rows (None: untagged).
    """
    ids = items.column("item_id").to_pylist()
    titles = items.column("title").to_pylist()
    offers = items.column("offers").to_pylist()
    items_json, attributes_json = [], []
    for row, item_id in enumerate(ids):
        attributes = {
            name: {"value": column[row], "confidence": round(float(confidences[name][row] or 0.0), 4)}
            for name, column in values.items()
            if column[row] is not None
        }
        result = {
            "item_id": item_id,
            "title": titles[row],
            "image_url": f"/images/{quote(item_id, safe='')}",
            "attributes": attributes,
            "offers": [
                {k: float(v) if isinstance(v, Decimal) else v for k, v in offer.items()} for offer in offers[row] or []
            ],
        }
        items_json.append(dumps(result))
        attributes_json.append(dumps(attributes))
    return items_json, attributes_json


def _compiled(keras_model: Any, image_size: int) -> Any:
    import tensorflow as tf

    spec = tf.TensorSpec((None, image_size, image_size, 3), tf.float32)

    @tf.function(input_signature=[spec], reduce_retracing=True)
    def run(images: tf.Tensor) -> dict:
        return keras_model(images, training=False)

    return run


def build_snapshot(lake: Lake, release_id: str, cache_dir: Path | None = None) -> Snapshot:
    """Download, verify and load a release and its model (raises if any of it fails)."""
    from pipeline.registry import load_model

    started = time.monotonic()
    release = Release.load(lake, release_id, cache_dir)
    model = load_model(lake, release.model_version)
    if int(model.embedding_dim) != int(release.manifest["dim"]):
        raise ValueError(
            f"model {model.version} embeds in {model.embedding_dim} dims, release {release_id} in "
            f"{release.manifest['dim']}"
        )
    n = len(release)
    vectors = release.index.vectors().reshape(n, -1)
    attrs = release.attributes
    names = [c for c in attrs.column_names if f"{c}_confidence" in attrs.column_names]
    by_item = dict(zip(attrs.column("item_id").to_pylist(), range(attrs.num_rows)))
    item_ids = release.items.column("item_id").to_pylist()
    rows = [by_item.get(item) for item in item_ids]
    values: dict[str, list[str | None]] = {}
    confidences: dict[str, list[float | None]] = {}
    for name in names:
        column = attrs.column(name).to_pylist()
        confidence = attrs.column(f"{name}_confidence").to_pylist()
        values[name] = [column[r] if r is not None else None for r in rows]
        confidences[name] = [confidence[r] if r is not None else None for r in rows]
    catalog = Catalog.build(item_ids, vectors, values)
    items_json, attributes_json = render_items(release.items, values, confidences)
    infer = _compiled(model.keras_model, model.image_size)
    infer(np.zeros((1, model.image_size, model.image_size, 3), np.float32))  # trace once, now
    snapshot = Snapshot(
        release,
        model,
        catalog,
        catalog.calibrate(),
        infer,
        items_json,
        attributes_json,
        [(t or "").lower() for t in release.items.column("title").to_pylist()],
        release.items.column("image_key").to_pylist(),
    )
    log.info(
        "release %s loaded: %d items, model %s, close-match distance %.3f (%.1f s)",
        release_id,
        n,
        model.version,
        snapshot.thresholds.overall,
        time.monotonic() - started,
    )
    return snapshot


def settle_heap() -> None:
    """Collect the previous release's garbage, then freeze what is live (``gc.freeze``).

    A loaded release and model are ~400k tracked objects: one full collection over them takes
    0.2 s, a stall every request in flight would wait on, at whatever moment the collector's
    thresholds pick. Frozen, they are out of its reach; this process pays one collection per
    release switch instead (in the poller's thread)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ReleaseHolder:
    """The current snapshot of a lake's latest release, refreshed when ``latest.json`` moves."""

    def __init__(self, lake: Lake, cache_dir: Path | None = None, poll_seconds: float = 30.0):
        self.lake = lake
        self.cache_dir = cache_dir
        self.poll_seconds = poll_seconds
        self.current: Snapshot | None = None
        self.last_error: str | None = None
        self._failed: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def latest_id(self) -> str | None:
        if not self.lake.exists(layout.LATEST):
            return None
        return latest_release_id(self.lake)

    def refresh(self) -> bool:
        """Load the latest release if it is new; True when the app switched to it."""
        with self._lock:  # one load at a time; requests never wait on this lock
            try:
                release_id = self.latest_id()
            except Exception as exc:  # lake unreachable: keep serving what we have
                self.last_error = f"cannot read {self.lake.uri(layout.LATEST)}: {exc}"
                log.warning(self.last_error)
                return False
            if release_id is None:
                self.last_error = f"no release published yet at {self.lake.uri(layout.LATEST)}"
                return False
            if self.current and self.current.release_id == release_id:
                self.last_error = None
                return False
            if release_id in self._failed:
                return False
            try:
                snapshot = build_snapshot(self.lake, release_id, self.cache_dir)
            except Exception as exc:
                self._failed.add(release_id)
                self.last_error = f"release {release_id} not switched to: {type(exc).__name__}: {exc}"
                log.error(self.last_error)
                return False
            previous, self.current = self.current, snapshot  # the atomic switch
            self.last_error = None
            if previous is not None:
                log.info("switched from release %s to %s", previous.release_id, release_id)
            del previous, snapshot
            settle_heap()
            return True

    # -- background polling ---------------------------------------------------------------
    def start(self) -> None:
        """Load the latest release and keep polling, in a daemon thread (the app answers
        ``/healthz`` meanwhile and ``/readyz`` once a release is loaded)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll, name="vitrine-release-poll", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _poll(self) -> None:
        self.refresh()
        while self.poll_seconds > 0 and not self._stop.wait(self.poll_seconds):
            self.refresh()
