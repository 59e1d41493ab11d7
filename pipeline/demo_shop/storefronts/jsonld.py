"""The JSON-LD storefront: HTML product pages with schema.org ``Product`` (JSON-LD, microdata,
OpenGraph), listing pages with pagination, sitemaps."""

from __future__ import annotations

import gzip
import html
import json
from typing import Any
from urllib.parse import quote

from pipeline.demo_shop.catalog import Product
from pipeline.demo_shop.storefronts.base import (
    CURRENCY,
    Reply,
    Storefront,
    image_reply,
    png_header_bomb,
    updated_at,
)

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>{head}</head>
<body><nav><a href="/">Home</a> <a href="/collections/all">All</a> <a href="/search?q=dress">Search</a>
<a href="/cart">Cart</a> <a href="/pages/about">About</a></nav>{body}</body></html>"""


class JsonLdStore(Storefront):
    """HTML listing pages with pagination, product pages with schema.org data, sitemaps."""

    platform = "jsonld"
    SITEMAP_URLS = 10_000  # URLs per sitemap part (the protocol allows 50,000)
    disallowed = ("/search", "/cart", "/account", "/products/secret-")
    MESS = (
        "corrupt",
        "truncated",
        "html",
        "bomb",
        "cmyk",
        "noindex",
        "tiny",
        "moved",
        "away",
        "page-noindex",
        "no-title",
    )

    def media(self, product: Product, kind: str = "") -> str:
        suffix = f"-{kind}" if kind and kind not in ("no-title", "page-noindex") else ""
        return f"/media/{product.handle}-v{product.version}{suffix}.jpg"

    def in_listing(self, i: int) -> bool:
        return not (self.mess and i % 4 == 3)

    def in_sitemap(self, i: int) -> bool:
        return not (self.mess and i % 5 == 4 and self.in_listing(i))  # every product findable one way

    def route(self, path: str, query: dict[str, list[str]]) -> Reply:
        if path == "/robots.txt":
            return self.robots()
        if path == "/sitemap.xml":
            return self._sitemap_index()
        if path in self._sitemap_paths():
            return self._sitemap(self._sitemap_paths().index(path))
        if path in ("/", "/collections/all"):
            return self._listing(max(1, int(query.get("page", ["1"])[0])))
        if path == "/pages/about":
            return Reply(200, PAGE.format(title="About", head="", body="<p>About us</p>").encode())
        if path.startswith("/products/"):
            found = self.entry(path[len("/products/") :])
            if found:
                headers = {"X-Robots-Tag": "noimageindex"} if found[2] == "page-noindex" else {}
                return Reply(
                    200, self._render_product(*found).encode(), headers=headers, last_modified=updated_at(found[1])
                )
        if path.startswith("/media/"):
            return self._media(path[len("/media/") :])
        return Reply(404, PAGE.format(title="Not found", head="", body="<h1>Not found</h1>").encode())

    # sitemaps
    def _sitemap_paths(self) -> list[str]:
        """At least two parts (every other one gzipped), at most ``SITEMAP_URLS`` URLs each."""
        n = max(2, -(-len(self.entries) // self.SITEMAP_URLS))
        return [f"/sitemap-products-{k}.xml{'.gz' if k % 2 == 0 else ''}" for k in range(1, n + 1)]

    def _sitemap_index(self) -> Reply:
        body = "".join(f"<sitemap><loc>{self.base_url}{p}</loc></sitemap>" for p in self._sitemap_paths())
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><sitemapindex '
            f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</sitemapindex>'
        )
        return Reply(200, xml.encode(), "application/xml")

    def _sitemap(self, part: int) -> Reply:
        """Part ``part`` (0-based) of the product sitemap, with each page's ``<lastmod>``."""
        listed = [p for p, _ in self.entries if self.in_sitemap(self.slot[p.pid])]
        n_parts = len(self._sitemap_paths())
        size = -(-(len(listed) + self.mess) // n_parts)
        urls = [
            (f"{self.base_url}/products/{quote(p.handle)}", f"<lastmod>{updated_at(p).isoformat()}</lastmod>")
            for p in listed[part * size : (part + 1) * size]
        ]
        if self.mess and part == n_parts - 1:  # 404: removed from the shop; no lastmod
            urls.append((f"{self.base_url}/products/discontinued-item", ""))
        body = "".join(f"<url><loc>{html.escape(u)}</loc>{lastmod}</url>" for u, lastmod in urls)
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><urlset '
            f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>'
        )
        if part % 2:
            return Reply(200, gzip.compress(xml.encode(), mtime=0), "application/x-gzip")
        return Reply(200, xml.encode(), "application/xml")

    # listings
    def _listing(self, page: int) -> Reply:
        """A page of product cards (title, photo, price, quick-add form) with pagination."""
        if self._shown is None:  # listed products, kept until the catalog changes
            self._shown = [(p, k) for p, k in self.entries if self.in_listing(self.slot[p.pid])]
        shown = self._shown
        n_pages = max(1, -(-len(shown) // self.page_size))
        cards = "".join(
            f'<li class="product-card"><a href="/products/{quote(p.handle)}">'
            f'<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="{self.media(p, k)}" '
            f'srcset="{self.media(p, k)} 1x" alt="{html.escape(p.title)}">'
            f'<span>{html.escape(p.title)}</span></a><span class="price">€{p.price:.2f}</span>'
            f'<form action="/cart/add" method="post"><input type="hidden" name="id" value="{p.pid}">'
            '<button type="submit">Add to cart</button></form></li>'
            for p, k in shown[(page - 1) * self.page_size : page * self.page_size]
        )
        if self.mess and page == 1:
            cards += '<li class="product-card"><a href="/products/secret-sample">Sample (staff only)</a></li>'
        head = nav = ""
        if page < n_pages:
            head = f'<link rel="next" href="/collections/all?page={page + 1}">'
            nav = f'<a class="pagination__next" href="/collections/all?page={page + 1}">Next &raquo;</a>'
        body = f"<h1>All products</h1><ul>{cards}</ul><div class='pagination'>{nav}</div>"
        return Reply(200, PAGE.format(title=f"All products - page {page}", head=head, body=body).encode())

    # product pages: five ways real shops mark up a product
    def _render_product(self, i: int, p: Product, kind: str) -> str:
        url = f"{self.base_url}/products/{quote(p.handle)}"
        image = f"{self.base_url}{self.media(p, kind)}"
        name = "" if kind == "no-title" else p.title
        offer = {
            "@type": "Offer",
            "price": f"{p.price:.2f}",
            "priceCurrency": CURRENCY,
            "availability": "https://schema.org/InStock",
            "url": url,
        }
        crumbs = {
            "@type": "BreadcrumbList",
            "itemListElement": [
                {
                    "@type": "ListItem",
                    "position": k + 1,
                    "name": c,
                    "item": f"{self.base_url}/collections/{quote(c.lower())}",
                }
                for k, c in enumerate(p.category_path)
            ],
        }
        base = {
            "name": name,
            "description": p.description,
            "sku": f"SKU-{p.pid}",
            "color": p.color.title(),
            "category": " > ".join(p.category_path),
        }
        if p.pattern:
            base["pattern"] = p.pattern.title()
        if p.material:
            base["material"] = p.material.title()
        head, body = f'<link rel="canonical" href="{url}">', f"<h1>{html.escape(name)}</h1>"
        style = i % 5
        ld: dict[str, Any]
        if style == 0:
            ld = {
                "@context": "https://schema.org",
                "@type": "Product",
                **base,
                "brand": p.vendor,
                "image": image,
                "offers": offer,
            }
            head += _ld(ld) + _ld({"@context": "https://schema.org", **crumbs})
        elif style == 1:
            ld = {
                "@context": "https://schema.org",
                "@graph": [
                    {"@type": "WebPage", "@id": url, "name": name},
                    crumbs,
                    {
                        "@type": "Product",
                        **base,
                        "brand": {"@type": "Brand", "name": p.vendor},
                        "image": [image[len(self.base_url) :]],
                        "offers": [offer],
                    },
                ],
            }
            head += _ld(ld)
        elif style == 2:
            ld = {
                "@context": "https://schema.org",
                "@type": "ProductGroup",
                **base,
                "productGroupID": f"G{p.pid}",
                "brand": {"@type": "Brand", "name": p.vendor},
                "image": {"@type": "ImageObject", "url": image, "width": 224, "height": 224},
                "offers": {
                    "@type": "AggregateOffer",
                    "lowPrice": p.price,
                    "highPrice": round(p.price + 10, 2),
                    "priceCurrency": CURRENCY,
                    "offerCount": 3,
                },
                "hasVariant": [{"@type": "Product", "sku": f"SKU-{p.pid}-{s}", "size": s} for s in "SML"],
            }
            head += _ld(ld) + _ld({"@context": "https://schema.org", **crumbs})
        elif style == 3:  # microdata only, lazy relative image
            body += (
                f'<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">{html.escape(name)}</span>'
                f'<meta itemprop="sku" content="SKU-{p.pid}"><span itemprop="brand">{html.escape(p.vendor)}</span>'
                f'<span itemprop="color">{p.color.title()}</span>'
                f'<img itemprop="image" class="lazy" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" '
                f'data-src="{image[len(self.base_url) :]}">'
                f'<p itemprop="description">{html.escape(p.description)}</p>'
                f'<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">'
                f'<meta itemprop="price" content="{p.price:.2f}"><meta itemprop="priceCurrency" content="{CURRENCY}">'
                f'<link itemprop="availability" href="https://schema.org/InStock"></div></div>'
            )
        else:  # OpenGraph only
            head += (
                f'<meta property="og:type" content="product"><meta property="og:title" content="{html.escape(name)}">'
                f'<meta property="og:image" content="{image}"><meta property="og:url" content="{url}">'
                f'<meta property="og:description" content="{html.escape(p.description)}">'
                f'<meta property="product:brand" content="{html.escape(p.vendor)}">'
                f'<meta property="product:price:amount" content="{p.price:.2f}">'
                f'<meta property="product:price:currency" content="{CURRENCY}">'
                f'<meta property="product:color" content="{p.color.title()}">'
            )
        return PAGE.format(title=html.escape(name or "Product"), head=head, body=body)

    # media
    def _media(self, name: str) -> Reply:
        stem = name.rsplit(".", 1)[0]
        for kind in (*self.MESS, ""):
            suffix = f"-{kind}" if kind else ""
            if suffix and not stem.endswith(suffix):
                continue
            handle, _, version = stem[: len(stem) - len(suffix)].rpartition("-v")
            found = self.entry(handle)
            if found and str(found[1].version) == version and (not kind or found[2] == kind):
                return self._media_reply(found[1], kind)
        return Reply(404, b"not found", "text/plain")

    def _media_reply(self, product: Product, kind: str) -> Reply:
        data = self.photo(product, kind)
        if kind == "corrupt":
            return image_reply(data[:20] + bytes(range(256)) * 8)
        if kind == "truncated":
            return image_reply(data[: len(data) // 2])
        if kind == "html":
            return Reply(200, b"<html><body>Image not available</body></html>", "image/jpeg")
        if kind == "bomb":
            return Reply(200, png_header_bomb(), "image/png")
        if kind == "cmyk":
            return image_reply(self.photo(product, kind, "cmyk"))
        if kind == "noindex":
            reply = image_reply(data)
            reply.headers["X-Robots-Tag"] = "noimageindex"
            return reply
        if kind == "tiny":
            return image_reply(self.photo(product, kind, "tiny"))
        if kind == "moved":
            return Reply(301, b"", headers={"Location": self.media(product)})
        if kind == "away":
            return Reply(302, b"", headers={"Location": f"{self.offsite_base}{self.media(product)}"})
        return image_reply(data)


def _ld(obj: dict) -> str:
    text = json.dumps(obj).replace("</", "<\\/")
    return f'<script type="application/ld+json">{text}</script>'
