"""Product extraction from schema.org JSON-LD, microdata and OpenGraph, and listing pagination."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from scrapy.http import HtmlResponse

from scrapers.extraction import extract_product
from scrapers.spiders.jsonld import DEFAULT_PRODUCT_LINK, next_pages, product_links

URL = "https://shop.example/products/blue-dress"


def page(head="", body=""):
    return f"<html><head>{head}</head><body>{body}</body></html>"


def ld(obj):
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


def test_graph_with_breadcrumbs_offer_list_brand_object_and_relative_image():
    html = page(
        ld(
            {
                "@context": "https://schema.org",
                "@graph": [
                    {"@type": "WebPage", "name": "x"},
                    {
                        "@type": "BreadcrumbList",
                        "itemListElement": [
                            {"@type": "ListItem", "position": 2, "name": "Dresses"},
                            {"@type": "ListItem", "position": 1, "name": "Home"},
                            {"@type": "ListItem", "position": 3, "item": {"@id": "/c/midi", "name": "Midi"}},
                        ],
                    },
                    {
                        "@type": ["Product", "Thing"],
                        "name": "Blue Dress",
                        "sku": "D-1",
                        "brand": {"@type": "Brand", "name": "Acme"},
                        "color": "Blue",
                        "pattern": "Floral",
                        "material": "Viscose",
                        "image": ["/img/d1.jpg?v=3", "/img/d2.jpg"],
                        "offers": [
                            {
                                "@type": "Offer",
                                "price": "59.00",
                                "priceCurrency": "EUR",
                                "availability": "https://schema.org/InStock",
                            }
                        ],
                    },
                ],
            }
        )
    )
    p = extract_product(html, URL)
    assert (p["id"], p["title"], p["brand"], p["price"], p["currency"]) == (
        "D-1",
        "Blue Dress",
        "Acme",
        Decimal("59.00"),
        "EUR",
    )
    assert (p["color"], p["pattern"], p["material"]) == ("Blue", "Floral", "Viscose")
    assert p["category_path"] == ["Dresses", "Midi"] and p["product_type"] == "Midi"
    assert p["image_urls"] == ["https://shop.example/img/d1.jpg", "https://shop.example/img/d2.jpg"]
    assert p["url"] == URL and p["availability"] == "in_stock"


def test_product_group_aggregate_offer_image_object_and_category_string():
    html = page(
        ld(
            {
                "@type": "ProductGroup",
                "name": "Tee",
                "productGroupID": "G9",
                "brand": "Acme",
                "category": "Apparel > Tops > T-Shirts",
                "image": {"@type": "ImageObject", "contentUrl": "https://cdn.example/t.png"},
                "offers": {"@type": "AggregateOffer", "lowPrice": 9.5, "highPrice": 15, "priceCurrency": "USD"},
                "hasVariant": [{"@type": "Product", "sku": "T-S"}],
            }
        )
    )
    p = extract_product(html, URL)
    assert (p["id"], p["price"], p["currency"]) == ("G9", Decimal("9.5"), "USD")
    assert p["category_path"] == ["Apparel", "Tops", "T-Shirts"] and p["image_urls"] == ["https://cdn.example/t.png"]


def test_variant_offers_and_images_when_the_group_has_none():
    html = page(
        ld(
            {
                "@type": "ProductGroup",
                "name": "Tee",
                "hasVariant": [
                    {
                        "@type": "Product",
                        "image": "https://cdn.example/v1.jpg",
                        "offers": {"@type": "Offer", "priceSpecification": {"price": "12.00", "priceCurrency": "GBP"}},
                    }
                ],
            }
        )
    )
    p = extract_product(html, URL)
    assert (p["price"], p["currency"], p["image_urls"]) == (Decimal("12.00"), "GBP", ["https://cdn.example/v1.jpg"])
    assert p["id"] == URL  # no own id: the canonical URL


def test_microdata_with_lazy_relative_image():
    html = page(
        body='<div itemscope itemtype="http://schema.org/Product"><h1 itemprop="name"> Wool  Coat </h1>'
        '<img itemprop="image" src="data:image/gif;base64,R0l" data-srcset="/c-300.jpg 300w, /c-900.jpg 900w">'
        '<span itemprop="brand">Nord</span><meta itemprop="sku" content="C-7">'
        '<div itemprop="offers" itemscope itemtype="http://schema.org/Offer">'
        '<span itemprop="price" content="199.00">199 €</span><meta itemprop="priceCurrency" content="EUR">'
        '<link itemprop="availability" href="http://schema.org/OutOfStock"></div></div>'
    )
    p = extract_product(html, URL)
    assert (p["id"], p["title"], p["brand"], p["price"]) == ("C-7", "Wool Coat", "Nord", Decimal("199.00"))
    assert p["image_urls"] == ["https://shop.example/c-900.jpg"] and p["availability"] == "out_of_stock"


def test_opengraph_fallback_and_merging_gaps_from_later_sources():
    og = (
        '<meta property="og:type" content="product"><meta property="og:title" content="Red Bag">'
        '<meta property="og:image" content="https://cdn.example/bag.jpg">'
        '<meta property="product:price:amount" content="80"><meta property="product:price:currency" content="EUR">'
        '<link rel="canonical" href="/products/red-bag">'
    )
    p = extract_product(page(og), URL + "?utm=x")
    assert (p["title"], p["price"], p["currency"]) == ("Red Bag", Decimal("80"), "EUR")
    assert p["url"] == p["id"] == "https://shop.example/products/red-bag"
    # JSON-LD without an image: the og:image fills the gap, JSON-LD wins where it has data
    merged = extract_product(page(og + ld({"@type": "Product", "name": "Red Leather Bag", "sku": "B1"})), URL)
    assert (merged["title"], merged["id"], merged["image_urls"]) == (
        "Red Leather Bag",
        "B1",
        ["https://cdn.example/bag.jpg"],
    )


def test_not_a_product_page_and_broken_json_ld():
    assert extract_product(page("<title>All products</title>"), URL) is None
    broken = '<script type="application/ld+json">{"@type": "Product", "name": </script>'
    assert extract_product(page(broken), URL) is None


def test_pagination_links():
    def links(body, url="https://shop.example/c/all?page=2"):
        return next_pages(HtmlResponse(url, body=page(body=body).encode(), encoding="utf-8"))

    assert links('<a href="/c/all?page=3">3</a><a href="/c/all?page=1">1</a>') == ["https://shop.example/c/all?page=3"]
    assert links('<a class="pagination__next" href="/c/all?p=x">more</a>') == ["https://shop.example/c/all?p=x"]
    assert links('<a href="/c/all?offset=48">Next ›</a>') == ["https://shop.example/c/all?offset=48"]
    assert links('<a rel="next" href="/c/all/page/3">»</a>') == ["https://shop.example/c/all/page/3"]
    assert links('<a href="/c/other?page=3">3</a><a href="/about">About</a>') == []


def test_pagination_and_product_links_skip_script_and_mail_links_and_substring_classes():
    body = (
        '<a class="pagination__next" href="javascript:void(0)">Next</a><a href="mailto:a@b.example">Next</a>'
        '<a class="IconExternalLink" href="https://blog.example/story">Blog</a>'
        '<a href="javascript:openProduct(\'/products/x\')">x</a><a href="/products/y">y</a>'
        '<a class="next-page" href="/c/all?p=2">more</a>'
    )
    response = HtmlResponse("https://shop.example/c/all", body=page(body=body).encode(), encoding="utf-8")
    assert next_pages(response) == ["https://shop.example/c/all?p=2"]
    assert product_links(response, re.compile(DEFAULT_PRODUCT_LINK)) == ["https://shop.example/products/y"]
