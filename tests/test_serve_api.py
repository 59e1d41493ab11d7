"""The visual search app's JSON API (contract §8) on a real release: every endpoint, bad
uploads, pre-filters, crop, profile, and release switches while requests run."""

from __future__ import annotations

import gc
import io
import struct
import threading
import time
import zlib
from collections import Counter

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pipeline import layout
from pipeline.client import Release
from pipeline.demo_shop.catalog import synthetic_catalog
from pipeline.lake import Lake
from pipeline.serve.app import create_app
from pipeline.serve.state import ReleaseHolder
from tests.support.app import demo_release as publish_demo
from tests.support.app import item_id_of, live_server, publish, ready_holder, store_catalog, wait_ready

RESULT_KEYS = {"item_id", "distance", "title", "image_url", "attributes", "offers"}


@pytest.fixture(scope="module")
def client(demo_release, tmp_path_factory):
    with TestClient(create_app(ready_holder(demo_release.lake, tmp_path_factory.mktemp("cache")))) as test_client:
        yield test_client


def _jpeg(product_photo: bytes) -> tuple[str, bytes, str]:
    return ("photo.jpg", product_photo, "image/jpeg")


def test_health_ready_and_release(client, demo_release):
    health = client.get("/healthz")
    assert health.json() == {"status": "ok"} and health.headers["x-content-type-options"] == "nosniff"
    assert health.headers["server-timing"].startswith("app;dur=")
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["release_id"] == demo_release.release_id
    info = client.get("/api/release").json()
    assert info["release_id"] == demo_release.release_id and info["n_items"] == 60
    assert info["model_version"] == "demo-fit-v1"
    colors = {p.labels["color"] for p in demo_release.catalog.products}
    assert set(info["filters"]["color"]) <= colors and len(info["filters"]["color"]) >= 5
    assert 0 < info["close_match_distance"] < 2


def test_not_ready_until_a_release_exists(tmp_path):
    holder = ReleaseHolder(Lake(f"file://{tmp_path / 'empty'}"), cache_dir=tmp_path / "cache", poll_seconds=0)
    with TestClient(create_app(holder)) as c:
        assert c.get("/healthz").status_code == 200
        for _ in range(100):  # the app answers before the poller's first look at the lake
            ready = c.get("/readyz")
            if ready.json()["detail"] != "no release loaded yet":
                break
            time.sleep(0.05)
        assert ready.status_code == 503 and "no release published yet" in ready.json()["detail"]
        assert c.get("/api/similar", params={"item_id": "x"}).status_code == 503


def test_similar_by_item(client, demo_release):
    product = demo_release.catalog.products[3]
    item_id = item_id_of(product)
    answer = client.get("/api/similar", params={"item_id": item_id, "k": 5}).json()
    assert set(answer) >= {"release_id", "query", "results", "no_close_match", "distance_threshold"}
    assert answer["release_id"] == demo_release.release_id and answer["query"]["item_id"] == item_id
    results = answer["results"]
    assert len(results) == 5 and item_id not in [r["item_id"] for r in results]
    assert all(set(r) >= RESULT_KEYS for r in results)
    assert [r["distance"] for r in results] == sorted(r["distance"] for r in results)
    first = results[0]
    assert first["offers"][0]["retailer"] == "demo-shopify" and first["offers"][0]["currency"] == "EUR"
    assert set(first["attributes"]) >= {"category", "color", "pattern"}
    assert 0 <= first["attributes"]["color"]["confidence"] <= 1
    assert "image_key" not in first  # no lake path leaves the app

    image = client.get(first["image_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert "max-age" in image.headers["cache-control"] and image.headers["etag"]
    assert Image.open(io.BytesIO(image.content)).size == (224, 224)
    again = client.get(first["image_url"], headers={"If-None-Match": image.headers["etag"]})
    assert again.status_code == 304

    missing = client.get("/api/similar", params={"item_id": "no-such-item"})
    assert missing.status_code == 404 and "no-such-item" in missing.json()["detail"]


def test_similar_by_image_finds_the_item_and_shows_its_attributes(client, demo_release):
    for product in demo_release.catalog.products[:5]:
        answer = client.post(
            "/api/similar", files={"image": _jpeg(demo_release.photo(product))}, data={"k": "3"}
        ).json()
        assert answer["results"][0]["item_id"] == item_id_of(product)
        assert answer["results"][0]["distance"] < 1e-3 and answer["no_close_match"] is False
        attributes = answer["query"]["attributes"]
        assert set(attributes) == {"category", "color", "pattern"}
        assert attributes["color"]["value"] == product.labels["color"]  # the fitted model knows it
        assert 0 < attributes["color"]["confidence"] <= 1


def test_filters_are_applied_before_ranking(client, demo_release, tmp_path):
    release = client.get("/api/release").json()
    by_color = Counter(p.labels["color"] for p in demo_release.catalog.products)
    query = demo_release.catalog.products[0]
    other = next(
        c for c, _ in by_color.most_common() if c != query.labels["color"] and c in release["filters"]["color"]
    )
    k = 4
    filtered = client.get("/api/similar", params={"item_id": item_id_of(query), "k": k, "color": other}).json()
    colors = [r["attributes"]["color"]["value"] for r in filtered["results"]]
    assert colors and set(colors) == {other}
    # exactly the nearest items of that color over all of them (not a filtered ANN top-k)
    published = Release.latest(demo_release.lake, cache_dir=tmp_path)
    vectors = published.index.vectors()
    ids = published.items.column("item_id").to_pylist()
    table = published.attributes
    color_of = dict(zip(table.column("item_id").to_pylist(), table.column("color").to_pylist()))
    me = ids.index(item_id_of(query))
    rows = [i for i, item in enumerate(ids) if color_of[item] == other and i != me]
    exact = sorted(rows, key=lambda i: np.linalg.norm(vectors[i] - vectors[me]))[:k]
    assert [r["item_id"] for r in filtered["results"]] == [ids[i] for i in exact]

    two = client.get(
        "/api/similar",
        params=[("item_id", item_id_of(query)), ("k", 20), ("color", other), ("color", query.labels["color"])],
    ).json()
    assert {r["attributes"]["color"]["value"] for r in two["results"]} <= {other, query.labels["color"]}

    both = client.post(
        "/api/similar",
        files={"image": _jpeg(demo_release.photo(query))},
        data={"k": "5", "color": other, "category": [c for c in release["filters"]["category"]]},
    ).json()
    assert {r["attributes"]["color"]["value"] for r in both["results"]} == {other}

    bad = client.get("/api/similar", params={"item_id": item_id_of(query), "color": "chartreuse"})
    assert bad.status_code == 422 and "unknown color chartreuse" in bad.json()["detail"]


def test_crop_selects_the_garment(client, demo_release):
    street, left, right = demo_release.street_photo()
    for crop, product in (("0,0,0.5,1", left), ("0.5,0,1,1", right)):
        answer = client.post(
            "/api/similar", files={"image": ("street.png", street, "image/png")}, data={"k": "3", "crop": crop}
        ).json()
        assert answer["results"][0]["item_id"] == item_id_of(product)
    bad = client.post("/api/similar", files={"image": ("s.png", street, "image/png")}, data={"crop": "0.6,0,0.5,1"})
    assert bad.status_code == 422 and "crop" in bad.json()["detail"]


def test_profile_from_three_photos(client, demo_release):
    products = demo_release.catalog.products
    category = Counter(p.labels["category"] for p in products).most_common(1)[0][0]
    chosen = [p for p in products if p.labels["category"] == category][:3]
    files = [("images", (f"p{i}.jpg", demo_release.photo(p), "image/jpeg")) for i, p in enumerate(chosen)]
    answer = client.post("/api/profile", files=files, data={"k": "6"}).json()
    assert answer["query"]["n_images"] == 3 and answer["query"]["attributes"]["category"]["value"] == category
    results = answer["results"]
    assert len(results) == 6 and all(set(r) >= RESULT_KEYS | {"score"} for r in results)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    assert results[0]["attributes"]["category"]["value"] == category
    filtered = client.post("/api/profile", files=files, data={"k": "6", "pattern": "striped"}).json()
    assert {r["attributes"]["pattern"]["value"] for r in filtered["results"]} == {"striped"}
    too_many = client.post("/api/profile", files=files * 3)
    assert too_many.status_code == 413 and "at most 8" in too_many.json()["detail"]


def test_no_close_match_for_a_photo_unlike_the_catalog(client, demo_release):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8))
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    answer = client.post("/api/similar", files={"image": ("noise.png", buf.getvalue(), "image/png")}).json()
    assert answer["no_close_match"] is True
    assert answer["results"][0]["distance"] > answer["distance_threshold"]
    same = client.post("/api/similar", files={"image": _jpeg(demo_release.photo(demo_release.catalog.products[0]))})
    assert same.json()["no_close_match"] is False


def test_items_endpoints(client, demo_release):
    product = demo_release.catalog.products[7]
    one = client.get(f"/api/items/{item_id_of(product)}").json()
    assert one["item_id"] == item_id_of(product) and one["title"] == product.title
    assert one["image_url"] == f"/images/{item_id_of(product)}" and one["offers"][0]["price"] == product.price
    assert client.get("/api/items/nope").status_code == 404
    page = client.get("/api/items", params={"q": product.title, "limit": 5}).json()
    assert page["total"] >= 1 and item_id_of(product) in [r["item_id"] for r in page["results"]]


def test_every_answer_is_the_release_s_own_item(client, demo_release, tmp_path):
    """The app renders each item's JSON once per release: it says what the client library reads."""
    published = Release.latest(demo_release.lake, cache_dir=tmp_path)
    page = client.get("/api/items", params={"limit": 100}).json()
    assert page["total"] == len(published) == len(page["results"])
    for shown in page["results"]:
        item = published.item(shown["item_id"])
        assert shown["title"] == item["title"] and "image_key" not in shown
        assert shown["offers"] == [{**o, "price": float(o["price"])} for o in item["offers"]]
        assert shown["attributes"] == {
            name: {"value": a["value"], "confidence": round(a["confidence"], 4)}
            for name, a in item["attributes"].items()
        }
        similar = client.get("/api/similar", params={"item_id": shown["item_id"], "k": 3}).json()
        assert similar["query"]["attributes"] == shown["attributes"]
        nearest = published.similar(shown["item_id"], 3)
        assert [r["item_id"] for r in similar["results"]] == [r["item_id"] for r in nearest]
        assert [r["distance"] for r in similar["results"]] == [r["distance"] for r in nearest]


def test_openapi_documents_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/similar", "/api/profile", "/api/items/{item_id}", "/api/release", "/healthz", "/readyz"):
        assert path in paths, path
    assert {"get", "post"} <= set(paths["/api/similar"])
    page = client.get("/")
    assert page.status_code == 200 and "<title>Vitrine visual search</title>" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + b"\x00\x00\x00\x00IDAT"
        + b"\x00" * 64
    )


@pytest.mark.parametrize(
    "name, make, status, says",
    [
        ("truncated.jpg", lambda photo: photo[: len(photo) // 3], 422, "cannot be decoded"),
        ("huge.png", lambda photo: _png_header(40_000, 40_000), 413, "pixels"),
        ("notes.jpg", lambda photo: b"just some text, not a photo\n" * 10, 415, "text is not a supported photo"),
        (
            "logo.png",
            lambda photo: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>',
            415,
            "an SVG document",
        ),
        ("empty.jpg", lambda photo: b"", 422, "empty"),
        ("big.jpg", lambda photo: photo + b"\0" * (20 * 1024 * 1024), 413, "more than"),
    ],
)
def test_bad_uploads_get_a_clear_4xx(client, demo_release, name, make, status, says):
    data = make(demo_release.photo(demo_release.catalog.products[0]))
    response = client.post("/api/similar", files={"image": (name, data, "image/jpeg")})
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]
    assert client.post("/api/profile", files=[("images", (name, data, "image/jpeg"))]).status_code == status


def test_request_limits(client, demo_release):
    photo = _jpeg(demo_release.photo(demo_release.catalog.products[0]))
    assert client.post("/api/similar", files={"image": photo}, data={"k": "0"}).status_code == 422
    assert client.get("/api/similar", params={"item_id": "x", "k": 1000}).status_code == 422
    assert client.post("/api/similar", data={"k": "3"}).status_code == 422  # no image


def test_image_paths_come_only_from_the_release(client):
    for path in (
        "/images/..%2F..%2Fetc%2Fpasswd",
        "/images/../../pyproject.toml",
        "/images/nope",
        "/static/../app.py",
        "/static/..%2Fapp.py",
    ):
        response = client.get(path)
        assert response.status_code == 404, path


def test_embedding_concurrency_limit_answers_503(demo_release, tmp_path):
    holder = ready_holder(demo_release.lake, tmp_path)
    real_predict = holder.current.predict
    gate = threading.Event()

    def slow_predict(pixels):
        gate.wait(10)
        return real_predict(pixels)

    holder.current.predict = slow_predict
    photo = _jpeg(demo_release.photo(demo_release.catalog.products[0]))
    with TestClient(create_app(holder, max_embeddings=1, queue_seconds=0.2)) as c:
        first: list[httpx.Response] = []
        worker = threading.Thread(target=lambda: first.append(c.post("/api/similar", files={"image": photo})))
        worker.start()
        time.sleep(0.5)
        busy = c.post("/api/similar", files={"image": photo})
        gate.set()
        worker.join()
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1" and "retry" in busy.json()["detail"]
    assert first[0].status_code == 200


def test_release_switch_while_requests_run(demo_model, tmp_path):
    lake = Lake(f"file://{tmp_path / 'lake'}")
    first = publish_demo(lake, demo_model, n=60, run_id="switch-1")
    holder = ReleaseHolder(lake, cache_dir=tmp_path / "cache", poll_seconds=0.2)
    app = create_app(holder)
    photo = first.photo(first.catalog.products[0])
    item = item_id_of(first.catalog.products[1])
    old_items = set(first.item_of.values())
    seen: list[tuple[int, str | None, list[str]]] = []
    stop = threading.Event()

    def hammer(kind: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set():
                if kind == "item":
                    r = http.get("/api/similar", params={"item_id": item, "k": 10})
                else:
                    r = http.post("/api/similar", files={"image": ("p.jpg", photo, "image/jpeg")}, data={"k": "10"})
                body = r.json() if r.status_code == 200 else {}
                seen.append((r.status_code, body.get("release_id"), [x["item_id"] for x in body.get("results", [])]))

    with live_server(app) as base:
        wait_ready(holder)
        workers = [threading.Thread(target=hammer, args=(kind,)) for kind in ("item", "image", "item")]
        for w in workers:
            w.start()
        time.sleep(1.0)
        bigger = synthetic_catalog(80)  # the same 60 products and 20 new ones
        second_id = publish(lake, store_catalog(lake, bigger), "demo-fit-v1", "switch-2")
        deadline = time.monotonic() + 120
        while httpx.get(f"{base}/api/release").json()["release_id"] != second_id:
            assert time.monotonic() < deadline, "the new release was not picked up"
            time.sleep(0.2)
        time.sleep(1.0)
        stop.set()
        for w in workers:
            w.join()
        assert httpx.get(f"{base}/api/release").json()["n_items"] == 80
    statuses = Counter(status for status, _, _ in seen)
    assert set(statuses) == {200}, statuses
    releases = Counter(release for _, release, _ in seen)
    assert releases[first.release_id] > 0 and releases[second_id] > 0, releases
    for _, release, items in seen:  # an answer never mixes the two releases
        if release == first.release_id:
            assert set(items) <= old_items


def test_a_release_that_fails_to_verify_is_never_switched_to(demo_release, demo_model, tmp_path):
    lake = Lake(f"file://{tmp_path / 'lake'}")
    first = publish_demo(lake, demo_model, n=30, run_id="verify-1")
    holder = ReleaseHolder(lake, cache_dir=tmp_path / "cache", poll_seconds=0)
    gc.unfreeze()
    assert holder.refresh() and holder.current.release_id == first.release_id
    assert gc.get_freeze_count() > 0  # the loaded release is out of the cyclic collector's reach
    second_id = publish(lake, store_catalog(lake, synthetic_catalog(40)), "demo-fit-v1", "verify-2")
    key = f"{layout.release_prefix(second_id)}/items.parquet"
    data = bytearray(lake.read_bytes(key))
    data[len(data) // 2] ^= 0xFF
    lake.write_bytes(key, bytes(data))
    assert lake.read_json(layout.LATEST)["release_id"] == second_id

    assert holder.refresh() is False
    assert holder.current.release_id == first.release_id
    assert "not switched to" in holder.last_error and "corrupt" in holder.last_error
    with TestClient(create_app(holder)) as c:
        info = c.get("/api/release").json()
        assert info["release_id"] == first.release_id and "corrupt" in info["last_error"]
        assert c.get("/readyz").status_code == 200
