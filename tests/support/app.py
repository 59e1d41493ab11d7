"""A real release of the demo catalog for the app tests, and a live app server.

The release goes through the real stages: the demo shop's synthetic photos stored in the lake
as images, the pipeline's own multi-head model (``pipeline.model.build_model``, 32 px) fitted
for a few seconds on the catalog's known labels and registered, then ``embed`` → ``tag`` →
``index`` → ``publish``. The app then serves it with uvicorn on a free loopback port.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import layout, schemas
from pipeline.demo_shop.catalog import Catalog, Product, synthetic_catalog
from pipeline.lake import Lake, sha256_bytes
from pipeline.taxonomy.schema import CONTRACT_VOCABULARIES

IMAGE_SIZE = 32
MODEL_VERSION = "demo-fit-v1"


@dataclass
class DemoRelease:
    lake: Lake
    release_id: str
    catalog: Catalog
    item_of: dict[int, str]  # product pid → item_id

    def photo(self, product: Product) -> bytes:
        return self.catalog.photo(product)

    def street_photo(self) -> tuple[bytes, Product, Product]:
        """A 448×224 PNG of products 1 and 2 side by side (crop tests), with the two products."""
        from PIL import Image

        left, right = self.catalog.products[1], self.catalog.products[2]
        canvas = Image.new("RGB", (448, 224), "white")
        canvas.paste(Image.open(io.BytesIO(self.photo(left))), (0, 0))
        canvas.paste(Image.open(io.BytesIO(self.photo(right))), (224, 0))
        buf = io.BytesIO()
        canvas.save(buf, "PNG")
        return buf.getvalue(), left, right


def item_id_of(product: Product) -> str:
    return f"demo-{product.pid}"


def store_catalog(lake: Lake, catalog: Catalog) -> str:
    """Store the catalog's photos and write an items table (one item per product)."""
    rows = []
    for p in catalog.products:
        data = catalog.photo(p)
        sha = sha256_bytes(data)
        key = layout.image_key(sha, "jpg")
        lake.write_bytes(key, data)
        offer = {
            "retailer": "demo-shopify",
            "product_id": str(p.pid),
            "currency": "EUR",
            "url": f"https://shop.example/products/{p.handle}",
            "price": schemas.money(p.price),
        }
        rows.append(
            {
                "item_id": item_id_of(p),
                "group_id": item_id_of(p),
                "canonical_sha256": sha,
                "image_key": key,
                "title": p.title,
                "offers": [offer],
                "n_images": 1,
            }
        )
    schemas.ITEMS.write(lake, rows)
    return lake.uri(schemas.ITEMS.prefix())


def fitted_model(catalog: Catalog, epochs: int = 20):
    """The pipeline's model at 32 px, fitted briefly on the catalog's true labels."""
    import keras

    from pipeline.imageio import decode_bytes
    from pipeline.model import build_model

    vocab = {name: list(CONTRACT_VOCABULARIES[name]) for name in ("category", "color", "pattern")}
    model = build_model(vocab, IMAGE_SIZE, backbone="compact", embedding_dim=32, seed=0)
    x = np.stack([decode_bytes(catalog.photo(p), IMAGE_SIZE) for p in catalog.products]).astype(np.float32)
    y = {name: np.array([values.index(p.labels[name]) for p in catalog.products]) for name, values in vocab.items()}
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3), loss={name: "sparse_categorical_crossentropy" for name in vocab}
    )
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model, vocab


def register(lake: Lake, model, vocab: dict, version: str = MODEL_VERSION) -> str:
    from pipeline.registry import exists, register_model

    if not exists(lake, version):
        register_model(lake, model, attributes=vocab, image_size=IMAGE_SIZE, backbone="compact", version=version)
    return version


def publish(lake: Lake, items_uri: str, version: str, run_id: str) -> str:
    """embed → tag → index → publish, as catalog_refresh runs them."""
    from pipeline.embed import embed_shard, plan_shards
    from pipeline.index import build_index
    from pipeline.publish import publish_release
    from pipeline.tag import tag_items

    for shard in plan_shards(lake, items_uri, version, max_shards=1, min_shard_images=1):
        embed_shard(lake, shard)
    attributes_uri = tag_items(lake, items_uri, version)
    index_uri = build_index(lake, items_uri, version, run_id, recall_target=0.95, kind="annoy")
    return publish_release(lake, attributes_uri, index_uri, version, run_id, retention=5)


def demo_release(lake: Lake, model_and_vocab, n: int = 60, seed: int = 0, run_id: str = "app-1") -> DemoRelease:
    catalog = synthetic_catalog(n, seed=seed)
    items_uri = store_catalog(lake, catalog)
    version = register(lake, *model_and_vocab)
    release_id = publish(lake, items_uri, version, run_id)
    return DemoRelease(lake, release_id, catalog, {p.pid: item_id_of(p) for p in catalog.products})


def free_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def ready_holder(lake: Lake, cache_dir: Path):
    """A ``ReleaseHolder`` (no polling) that has loaded the lake's latest release."""
    from pipeline.serve.state import ReleaseHolder

    holder = ReleaseHolder(lake, cache_dir=cache_dir, poll_seconds=0)
    if not holder.refresh():
        raise RuntimeError(f"no release loaded: {holder.last_error}")
    return holder


def wait_ready(holder, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while holder.current is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no release loaded: {holder.last_error}")
        time.sleep(0.1)
