"""SSRF (issue 18 §3): a retailer on loopback may reach its own origin (host and port) and
nothing else on the private network; link-local and metadata addresses never; host names are
checked on the address actually connected to; the registry cannot switch the guard off."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from hostile import Hostile, InternalService, page, png, redirect
from scrapy import Request, Spider
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.test import get_crawler

from pipeline import layout
from pipeline.demo_shop import DemoShop
from pipeline.demo_shop.storefronts.base import Reply
from pipeline.retailers import Retailer, RetailerRegistryError, parse_entry
from pipeline.scrape import scrape_retailer
from scrapers.middlewares import NetworkPolicy, PrivateNetworkMiddleware


def middleware(retailer: Retailer) -> PrivateNetworkMiddleware:
    crawler = get_crawler(Spider, {"VITRINE_RETAILER": retailer.to_json()})
    crawler.spider = Spider.from_crawler(crawler, name="t")
    return PrivateNetworkMiddleware.from_crawler(crawler)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8602/admin",  # another loopback service
        "http://127.0.0.1/x",  # same host, default port
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]:8601/x",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.7:8601/x",
    ],
)
def test_a_loopback_retailer_reaches_its_own_origin_only(url):
    mw = middleware(Retailer("acme", "shopify", "http://127.0.0.1:8601"))
    assert asyncio.run(mw.process_request(Request("http://127.0.0.1:8601/products.json"))) is None
    with pytest.raises(IgnoreRequest):
        asyncio.run(mw.process_request(Request(url)))


def test_link_local_is_refused_even_as_the_retailers_origin():
    mw = middleware(Retailer("acme", "shopify", "http://169.254.169.254"))
    with pytest.raises(IgnoreRequest, match="link-local or metadata"):
        asyncio.run(mw.process_request(Request("http://169.254.169.254/latest/meta-data/")))


def test_host_names_are_checked_on_the_resolved_address():
    policy = NetworkPolicy(Retailer("acme", "shopify", "https://shop.example"))
    assert "private address" in policy.check_address("cdn.example", "10.1.2.3")
    assert "link-local" in policy.check_address("shop.example", "169.254.169.254")
    assert policy.check_address("cdn.example", "93.184.216.34") is None
    assert "offsite port" in policy.check_url("https://cdn.example:8443/a.jpg")
    assert policy.check_url("https://cdn.example/a.jpg") is None


@pytest.mark.parametrize(
    "setting",
    [
        {"DOWNLOADER_MIDDLEWARES": {"scrapers.middlewares.PrivateNetworkMiddleware": None}},
        {"DOWNLOAD_MAXSIZE": 0},
        {"IMAGES_MAX_PIXELS": 10**12},
        {"DNS_RESOLVER": "scrapy.resolver.CachingThreadedResolver"},
        {"ITEM_PIPELINES": {}},
        {"HTTPCACHE_DIR": "/etc"},
        {"FILES_STORE": "file:///tmp"},
    ],
)
def test_registry_settings_outside_the_allowlist_are_refused(setting):
    entry = {"name": "acme", "platform": "shopify", "base_url": "https://shop.example", "settings": setting}
    with pytest.raises(RetailerRegistryError, match="may not be overridden") as err:
        parse_entry(entry, "registry.yaml: retailers[0]")
    assert "\n" not in str(err.value)
    ok = {**entry, "settings": {"DOWNLOAD_DELAY": 2, "CONCURRENT_REQUESTS_PER_DOMAIN": 2, "USER_AGENT": "x"}}
    assert parse_entry(ok, "registry.yaml").settings["DOWNLOAD_DELAY"] == 2


def test_redirects_to_other_loopback_services_store_nothing(lake):
    with DemoShop(n_products=6, mess=False) as shop, InternalService() as internal:
        store = shop.storefronts["shopify"]
        entry = next(r for r in shop.retailers() if r.platform == "shopify")
        hostile = Hostile(store)
        # one image redirects to a host name on loopback (checked when resolved), every other one
        # to the internal service on another loopback port
        hostile.serve(lambda path, query: path.startswith("/cdn/"), redirect("http://localhost/secret.png"), times=1)
        hostile.serve(lambda path, query: path.startswith("/cdn/"), redirect(f"{internal.url}/secret.png"))
        retailer = replace(entry, name="ssrf", allowed_domains=["127.0.0.1", "localhost"])
        scrape_retailer(lake, retailer, "run-1")
        assert internal.hits == []
    images = lake.read_parquet(f"{layout.table('images', retailer='ssrf')}/part-0.parquet").to_pylist()
    reasons = sorted(i["reason"] for i in images)  # reason codes; the detail says which host
    assert all(i["status"] == "rejected" for i in images)
    assert reasons == ["offsite_port"] * (len(images) - 1) + ["private_address"], reasons
    assert all("127.0.0.1:" in i["detail"] or "localhost resolves to" in i["detail"] for i in images)
    assert lake.list("images/") == []


def test_image_urls_of_other_schemes_are_rejected_with_a_reason_and_never_requested(lake, tmp_path):
    """A product whose only image is a file: URL is invalid and says why; a gopher: image beside
    a good one is a rejected image with a reason. Neither is requested (Scrapy reads file: URLs:
    the file here is a real PNG, which would be stored if it were fetched)."""
    local = tmp_path / "local.png"
    local.write_bytes(png(64, 64))
    with DemoShop(n_products=6, mess=False) as shop:
        store = shop.storefronts["shopify"]
        entry = next(r for r in shop.retailers() if r.platform == "shopify")
        hostile = Hostile(store)

        def listing(path: str, query: dict) -> Reply:
            reply = hostile._route(path, query)
            body = json.loads(reply.body)
            body["products"][0]["images"] = [{"src": local.as_uri()}]
            body["products"][1]["images"].append({"src": "gopher://127.0.0.1:70/1/x.png"})
            return replace(reply, body=json.dumps(body).encode())

        hostile.serve(page(1), listing)
        scrape_retailer(lake, replace(entry, name="schemes"), "run-1")
    images = lake.read_parquet(f"{layout.table('images', retailer='schemes')}/part-0.parquet").to_pylist()
    refused = [i for i in images if i["reason"] == "unsupported_scheme"]
    assert [(i["url"], i["detail"]) for i in refused] == [
        ("gopher://127.0.0.1:70/1/x.png", "unsupported scheme: gopher")
    ]
    stored = {i["image_key"] for i in images if i["status"] == "stored"}
    assert sorted(lake.list("images/")) == sorted(stored)  # the local PNG is not among them
    invalid = lake.read_parquet(f"{layout.table('invalid_products', retailer='schemes')}/part-0.parquet").to_pylist()
    assert [i["detail"] for i in invalid] == ["no images: unsupported scheme file"]
