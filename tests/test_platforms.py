"""The platforms registry ties each platform to a spider Scrapy finds under that name and to a
demo storefront serving it; retailer validation accepts exactly these platforms."""

from __future__ import annotations

import pytest
from scrapy.spiderloader import SpiderLoader
from scrapy.utils.project import get_project_settings

from pipeline import platforms
from pipeline.demo_shop.server import DemoShop
from pipeline.retailers import RetailerRegistryError, parse_entry


def test_every_platform_has_its_spider_and_storefront(monkeypatch):
    monkeypatch.setenv("SCRAPY_SETTINGS_MODULE", "scrapers.settings")
    loader = SpiderLoader.from_settings(get_project_settings())
    assert sorted(loader.list()) == sorted(platforms.PLATFORMS)
    for name, platform in platforms.REGISTRY.items():
        assert platform.name == name
        assert platforms.load(platform.spider) is loader.load(name)
        assert platforms.load(platform.storefront).platform == name


def test_the_demo_shop_serves_every_platform():
    shop = DemoShop(n_products=3)
    assert sorted(shop.storefronts) == sorted(platforms.PLATFORMS)
    for name, store in shop.storefronts.items():
        assert isinstance(store, platforms.load(platforms.REGISTRY[name].storefront))
    assert sorted(r.platform for r in shop.retailers()) == sorted(platforms.PLATFORMS)


def test_retailers_accept_exactly_the_registered_platforms():
    for name in platforms.PLATFORMS:
        assert parse_entry({"name": "acme", "platform": name, "base_url": "https://a.example"}, "x").platform == name
    with pytest.raises(RetailerRegistryError, match="unknown platform 'magento'"):
        parse_entry({"name": "acme", "platform": "magento", "base_url": "https://a.example"}, "x")
