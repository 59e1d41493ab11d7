"""A reference for ``bench/scrape.py``: the least a Scrapy spider can do with the same pages.

It pages through ``/products.json`` exactly as the ``shopify`` spider does (``in_flight`` pages
requested ahead, stop at the first empty page) and yields each product dict as it was parsed,
with Scrapy's default settings otherwise: no robots.txt, no HTTP cache, no validation, no feed,
no product mapping. Its pages/s is what Scrapy itself reaches at that many products per page
on this machine, so the ``shopify`` spider's ratio to ``scrapy bench`` can be read against it.

Run outside the project (``scrapy runspider bench/vanilla_shopify.py -a base=URL``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy


class VanillaShopifySpider(scrapy.Spider):
    name = "vanilla_shopify"
    custom_settings = {"ROBOTSTXT_OBEY": False, "TELNETCONSOLE_ENABLED": False}

    def __init__(self, base: str, limit: str = "250", in_flight: str = "4", **kwargs: Any):
        super().__init__(**kwargs)
        self.base, self.limit, self.in_flight = base.rstrip("/"), int(limit), int(in_flight)
        self.requested, self.exhausted = 0, False

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for _ in range(self.in_flight):
            yield self.next_page()

    def next_page(self) -> scrapy.Request:
        self.requested += 1
        return scrapy.Request(f"{self.base}/products.json?page={self.requested}&limit={self.limit}")

    def parse(self, response: Any) -> Iterator[Any]:
        products = response.json()["products"]
        yield from products
        if not products:
            self.exhausted = True
        elif not self.exhausted:
            yield self.next_page()
