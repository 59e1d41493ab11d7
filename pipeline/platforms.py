"""The retailer platforms Vitrine can crawl: platform name → its Scrapy spider and its demo
storefront. A new platform is a spider module, a storefront module and one entry here.

Entries are import paths so that reading the registry (DAG parsing, registry validation)
imports neither Scrapy nor the demo shop. ``tests/test_platforms.py`` ties every entry to a
spider of the same ``name`` that Scrapy finds and to a storefront of the same ``platform``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Platform:
    name: str
    spider: str  # "module:Class" of the scrapy.Spider whose ``name`` is the platform name
    storefront: str  # "module:Class" of the demo shop's Storefront serving this platform


REGISTRY: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform(
            "shopify", "scrapers.spiders.shopify:ShopifySpider", "pipeline.demo_shop.storefronts.shopify:ShopifyStore"
        ),
        Platform("jsonld", "scrapers.spiders.jsonld:JsonLdSpider", "pipeline.demo_shop.storefronts.jsonld:JsonLdStore"),
    )
}
PLATFORMS: tuple[str, ...] = tuple(REGISTRY)


def load(path: str) -> Any:
    """The object a ``module:Class`` path names."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
