"""Latency and throughput of the visual search app (``vitrine serve``) at catalog scale.

Builds a release of ``--items`` items (clustered 128-d vectors, random attributes; images are
a few demo photos shared by all items) through the real ``build_index`` and
``publish_release``, registers the production model configuration (96 px compact backbone,
untrained: inference costs the same), starts ``vitrine serve`` in a subprocess and drives it
with a closed-loop load generator (``--concurrency`` clients, each stopping at ``--requests``
requests or ``--seconds``, whichever comes first); beside the client's latency each row shows
the app's own ``Server-Timing`` (request in to response out, without the client and the
kernel). Rows: ``GET /api/similar?item_id`` (the
release's Annoy index), the same with a color pre-filter (exact over the matching items),
``POST /api/similar`` with a photo (decode + model + search). The same queries are then
answered in process by sklearn ``NearestNeighbors(algorithm="brute")`` over the same vectors
(the Fashify approach), beside the app's own search core, and the ratios are printed.

    .venv/bin/python bench/serve.py                 # 10k items; goals: by id p99 < 20 ms,
    .venv/bin/python bench/serve.py --items 100000  #   by image p99 < 150 ms
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline import layout, schemas  # noqa: E402
from pipeline.embed import embedding_schema  # noqa: E402
from pipeline.lake import Lake, sha256_bytes  # noqa: E402
from pipeline.taxonomy.schema import CONTRACT_VOCABULARIES  # noqa: E402

MODEL_VERSION = "bench-serve-96"
DIM = 128
N_PHOTOS = 24


def build_release(lake: Lake, n: int, seed: int = 0) -> tuple[str, list[bytes]]:
    """Register the model, write items/embeddings/attributes, index and publish; returns (id, photos)."""
    from pipeline.demo_shop.catalog import synthetic_catalog
    from pipeline.index import build_index
    from pipeline.model import build_model
    from pipeline.publish import publish_release
    from pipeline.registry import register_model

    rng = np.random.default_rng(seed)
    vocab = {name: list(values) for name, values in CONTRACT_VOCABULARIES.items()}
    model = build_model(vocab, 96, backbone="compact", embedding_dim=DIM, seed=seed)
    register_model(
        lake, model, attributes=vocab, image_size=96, backbone="compact", embedding_dim=DIM, version=MODEL_VERSION
    )
    catalog = synthetic_catalog(N_PHOTOS, seed=seed)
    photos = [catalog.photo(p) for p in catalog.products]
    keys = []
    for data in photos:
        key = layout.image_key(sha256_bytes(data), "jpg")
        lake.write_bytes(key, data)
        keys.append(key)
    centres = rng.normal(size=(max(1, n // 50), DIM))
    vectors = centres[rng.integers(0, len(centres), n)] + 0.3 * rng.normal(size=(n, DIM))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ids = [f"bench-{i:07d}" for i in range(n)]
    shas = [sha256_bytes(i.encode()) for i in ids]
    schemas.ITEMS.write(
        lake,
        pa.table(
            {
                "item_id": ids,
                "group_id": ids,
                "canonical_sha256": shas,
                "image_key": [keys[i % len(keys)] for i in range(n)],
                "title": [f"Bench item {i}" for i in range(n)],
                "offers": pa.array(
                    [
                        [
                            {
                                "retailer": "bench",
                                "product_id": str(i),
                                "url": f"https://shop.example/{i}",
                                "price": schemas.money(10 + i % 90),
                                "currency": "EUR",
                            }
                        ]
                        for i in range(n)
                    ],
                    pa.list_(schemas.OFFER),
                ),
                "n_images": pa.array([1] * n, pa.int32()),
            }
        ),
    )
    flat = pa.array(vectors.reshape(-1), pa.float32())
    embeddings = pa.Table.from_arrays(
        [pa.array(ids), pa.array(shas), pa.FixedSizeListArray.from_arrays(flat, DIM)], schema=embedding_schema(DIM)
    )
    lake.write_parquet(schemas.EMBEDDINGS.part(model_version=MODEL_VERSION), embeddings)
    columns = {"item_id": ids, "image_sha256": shas}
    for name in ("category", "color", "pattern"):
        columns[name] = [vocab[name][j] for j in rng.integers(0, len(vocab[name]), n)]
        columns[f"{name}_confidence"] = pa.array(rng.uniform(0.3, 1.0, n), pa.float32())
    attributes = schemas.attributes_table(["category", "color", "pattern"])
    attributes.write(lake, pa.table(columns), model_version=MODEL_VERSION)
    attributes_uri = lake.uri(attributes.prefix(model_version=MODEL_VERSION))
    items_uri = lake.uri(schemas.ITEMS.prefix())
    index_uri = build_index(lake, items_uri, MODEL_VERSION, "bench-serve", recall_target=0.95, kind="annoy")
    return publish_release(lake, attributes_uri, index_uri, MODEL_VERSION, "bench-serve", retention=5), photos


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(lake: Lake, home: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "VITRINE_HOME": str(home), "VITRINE_LAKE": lake.root, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(
        [str(REPO / ".venv/bin/vitrine"), "serve", "--port", str(port), "--poll-seconds", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"vitrine serve exited with {proc.returncode}")
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("vitrine serve did not become ready")


def load(base: str, make_request, concurrency: int, requests: int, seconds: float) -> dict:
    """Closed loop: ``concurrency`` clients (keep-alive ``http.client`` connections, the
    lightest client on this machine's shared cores), until ``requests`` in total or ``seconds``."""
    latencies: list[float] = []
    app_ms: list[float] = []  # the app's own Server-Timing: request in → response out
    failures = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    counter = iter(range(requests))
    host, port = base.removeprefix("http://").split(":")

    def send(conn: http.client.HTTPConnection, rng: np.random.Generator) -> int:
        method, path, body, headers = make_request(rng)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, float(response.getheader("server-timing", "app;dur=nan").split("dur=")[1])

    def client(worker: int) -> None:
        rng = np.random.default_rng(worker)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        send(conn, rng)  # warm the connection
        while time.monotonic() < deadline:
            with lock:
                if next(counter, None) is None:
                    break
            start = time.perf_counter()
            status, in_app = send(conn, rng)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                app_ms.append(in_app)
                if status != 200:
                    failures.append(status)
        conn.close()

    threads = [threading.Thread(target=client, args=(w,)) for w in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "n": len(ms),
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "app_p50": float(np.percentile(app_ms, 50)),
        "app_p99": float(np.percentile(app_ms, 99)),
        "rps": len(ms) / wall,
        "failures": len(failures),
    }


def multipart(fields: dict[str, str], name: str, filename: str, data: bytes, media: str) -> tuple[bytes, dict]:
    """A multipart/form-data body with one file and some form fields."""
    boundary = "vitrine-bench-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        f"Content-Type: {media}\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def core_comparison(lake: Lake, home: Path, queries: int = 300) -> None:
    """The same by-id queries in process: the app's search core vs sklearn brute force."""
    from sklearn.neighbors import NearestNeighbors

    from pipeline.serve.state import build_snapshot

    snapshot = build_snapshot(lake, lake.read_json(layout.LATEST)["release_id"], home / "cache")
    release, catalog = snapshot.release, snapshot.catalog
    rng = np.random.default_rng(1)
    rows = rng.integers(0, len(catalog), queries)
    nn = NearestNeighbors(n_neighbors=11, algorithm="brute", metric="euclidean").fit(catalog.vectors)
    mask = catalog.mask({"color": ["red"]})

    def timed(fn) -> np.ndarray:
        out = []
        for r in rows:
            start = time.perf_counter()
            fn(int(r))
            out.append(time.perf_counter() - start)
        return np.array(out) * 1000

    arms = {
        "app: Annoy by id (Release.similar)": timed(lambda r: release.similar(catalog.item_ids[r], 10)),
        "app: exact, color pre-filter": timed(lambda r: catalog.nearest(catalog.vectors[r], 10, mask, exclude=r)),
        "numpy exact over all (matmul)": timed(lambda r: catalog.nearest(catalog.vectors[r], 10, None, exclude=r)),
        "sklearn brute force": timed(lambda r: nn.kneighbors(catalog.vectors[r : r + 1], 11)),
        "sklearn brute + color post-filter": timed(lambda r: nn.kneighbors(catalog.vectors[r : r + 1], len(catalog))),
    }
    base = np.percentile(arms["sklearn brute force"], 50)
    print("in process, one query at a time, one BLAS thread (ms):")
    for name, ms in arms.items():
        p50 = np.percentile(ms, 50)
        print(f"  {name:36s} p50 {p50:7.3f}  p99 {np.percentile(ms, 99):7.3f}  sklearn/this {base / p50:6.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=600, help="requests per row (bound)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds per row (bound)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="vitrine-bench-serve-"))
    os.environ["VITRINE_HOME"] = str(home)
    lake = Lake(f"file://{home / 'lake'}")
    started = time.monotonic()
    release_id, photos = build_release(lake, args.items)
    print(f"release {release_id}: {args.items} items, dim {DIM} (built in {time.monotonic() - started:.0f} s)")
    proc, base = start_server(lake, home)
    try:
        info = httpx.get(f"{base}/api/release").json()
        ids = [f"bench-{i:07d}" for i in range(info["n_items"])]
        uploads = [multipart({"k": "10"}, "image", "photo.jpg", _jpeg(p), "image/jpeg") for p in photos]
        rows = {
            "GET  /api/similar?item_id (Annoy)": lambda rng: (
                "GET",
                f"/api/similar?item_id={ids[rng.integers(len(ids))]}&k=10",
                None,
                {},
            ),
            "GET  /api/similar?item_id&color": lambda rng: (
                "GET",
                f"/api/similar?item_id={ids[rng.integers(len(ids))]}&k=10&color=red",
                None,
                {},
            ),
            "POST /api/similar image": lambda rng: ("POST", "/api/similar", *uploads[rng.integers(len(uploads))]),
        }
        goals = {
            "GET  /api/similar?item_id (Annoy)": 20.0,
            "GET  /api/similar?item_id&color": 20.0,
            "POST /api/similar image": 150.0,
        }
        print(f"HTTP, closed loop, ≤{args.requests} requests or ≤{args.seconds:.0f} s per row:")
        for name, make in rows.items():
            for c in args.concurrency:
                r = load(base, make, c, args.requests, args.seconds)
                verdict = "meets" if r["p99"] < goals[name] else "misses"
                print(
                    f"  {name:36s} c={c}  n={r['n']:4d}  p50 {r['p50']:7.2f} ms  p99 {r['p99']:7.2f} ms  "
                    f"{r['rps']:7.1f} req/s  failures {r['failures']}  ({verdict} p99 < {goals[name]:.0f} ms)"
                    f"  in the app: p50 {r['app_p50']:.2f} p99 {r['app_p99']:.2f} ms"
                )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):  # as in vitrine serve, for every arm
        core_comparison(lake, home)
    return 0


def _jpeg(data: bytes) -> bytes:
    """A phone-ish upload: the photo at 640×640, JPEG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).resize((640, 640)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


if __name__ == "__main__":
    sys.exit(main())
