"""The Shopify-style storefront: the public storefront JSON with its real field names."""

from __future__ import annotations

import html
import json

from pipeline.demo_shop.catalog import Product
from pipeline.demo_shop.storefronts.base import (
    CURRENCY,
    EPOCH,
    JSON_TYPE,
    Reply,
    Storefront,
    image_reply,
    json_reply,
    updated_at,
)


class ShopifyStore(Storefront):
    """``/products.json?page=N&limit=250``, ``/products/<handle>.json``, ``/meta.json``."""

    platform = "shopify"
    disallowed = ("/admin", "/cart", "/checkouts", "/search")
    MESS = ("no-images", "img-404", "offsite-png", "webp-variants", "blank-title")

    def _file(self, product: Product, ext: str = "jpg") -> str:
        return f"/cdn/shop/files/{product.handle}-v{product.version}.{ext}"

    def _srcs(self, product: Product, kind: str) -> list[str]:
        host = self.base_url.split("://", 1)[1]
        own = f"//{host}{self._file(product)}?v={1700000000 + product.version}"
        if kind == "no-images":
            return []
        if kind == "img-404":
            return [own, f"//{host}/cdn/shop/files/missing-{product.handle}.jpg"]
        if kind == "offsite-png":
            return [f"{self.offsite_base}{self._file(product)}", f"//{host}{self._file(product, 'png')}"]
        if kind == "webp-variants":
            webp = self._file(product, "webp")
            return [f"//{host}{webp}?v=1&width=800", f"http://{host}{webp}?width=400&v=1", f"//{host}{webp}?v=2"]
        return [own]

    def product_json(self, product: Product, kind: str, *, tags_as_string: bool = False) -> dict:
        sizes = ["One size"] if product.product_type == "Handbags" else ["S", "M", "L"]
        price = f"{product.price:.2f}"
        variants = [
            {
                "id": product.pid * 100 + i,
                "product_id": product.pid,
                "title": f"{product.color.title()} / {s}",
                "option1": product.color.title(),
                "option2": s,
                "option3": None,
                "sku": f"SKU-{product.pid}-{s}",
                "price": price,
                "compare_at_price": None,
                "available": i != 1,
                "position": i + 1,
                "created_at": EPOCH.isoformat(),
                "updated_at": updated_at(product).isoformat(),
            }
            for i, s in enumerate(sizes)
        ]
        images = [
            {
                "id": product.pid * 10 + i,
                "product_id": product.pid,
                "position": i + 1,
                "src": src,
                "width": 224,
                "height": 224,
                "alt": product.title,
                "variant_ids": [],
            }
            for i, src in enumerate(self._srcs(product, kind))
        ]
        return {
            "id": product.pid,
            "title": "  " if kind == "blank-title" else product.title,
            "handle": product.handle,
            "body_html": f"<p>{html.escape(product.description)}</p>",
            "published_at": EPOCH.isoformat(),
            "created_at": EPOCH.isoformat(),
            "updated_at": updated_at(product).isoformat(),
            "vendor": product.vendor,
            "product_type": product.product_type,
            "tags": ", ".join(product.tags) if tags_as_string else list(product.tags),
            "variants": variants,
            "images": images,
            "options": [
                {"name": "Color", "position": 1, "values": [product.color.title()]},
                {"name": "Size", "position": 2, "values": sizes},
            ],
        }

    def warm(self) -> None:
        """Encode every listed product now (a real storefront serves its listings from a cache)."""
        for product, kind in self.entries:
            self._product_bytes(product, kind)

    def _product_bytes(self, product: Product, kind: str) -> bytes:
        """A product's ``products.json`` entry, encoded once per (product, version, price, host):
        a listing page is then a join, so the shop is not what a crawl benchmark measures."""
        key = ("json", product.pid, product.version, product.price, kind, self.base_url, self.offsite_base)
        hit = self._memo.get(key)  # a dict read is atomic; a race only encodes twice
        if hit is None:
            hit = self._memo[key] = json.dumps(self.product_json(product, kind), separators=(",", ":")).encode()
        return hit

    def route(self, path: str, query: dict[str, list[str]]) -> Reply:
        if path == "/robots.txt":
            return self.robots()
        if path == "/meta.json":
            return json_reply(
                {
                    "name": "Demo Shopify store",
                    "currency": CURRENCY,
                    "country": "DE",
                    "url": self.base_url,
                    "published_products_count": len(self.entries),
                }
            )
        if path == "/products.json":
            page = max(1, int(query.get("page", ["1"])[0]))
            limit = min(250, max(1, int(query.get("limit", ["30"])[0])))
            if self.mess and page == 2 and self.first_time("products.json?page=2"):
                return Reply(503, b"busy", "text/plain", {"Retry-After": "1"})
            chunk = self.entries[(page - 1) * limit : page * limit]
            body = b",".join(self._product_bytes(p, kind) for p, kind in chunk)
            return Reply(200, b'{"products":[' + body + b"]}", JSON_TYPE)
        if path.startswith("/products/") and path.endswith(".json"):
            found = self.entry(path[len("/products/") : -len(".json")])
            if found:
                return json_reply({"product": self.product_json(found[1], found[2], tags_as_string=True)})
        if path.startswith("/cdn/shop/files/"):
            return self._serve_file(path.rsplit("/", 1)[1])
        return Reply(404, b"not found", "text/plain")

    def _serve_file(self, name: str) -> Reply:
        stem, _, ext = name.rpartition(".")
        handle, _, version = stem.rpartition("-v")
        found = self.entry(handle)
        if not found or str(found[1].version) != version:
            return Reply(404, b"not found", "text/plain")
        _, product, kind = found
        return image_reply(self.photo(product, kind, {"png": "rgba", "webp": "webp"}.get(ext, "")))


# -- JSON-LD -----------------------------------------------------------------------------------
