"""Registry validation: good entries load, bad ones fail with a message naming the problem."""

from __future__ import annotations

import pytest

from pipeline.retailers import Retailer, RetailerRegistryError, load_registry, parse_registry, registry_yaml

GOOD = """
retailers:
  - name: acme
    platform: shopify
    base_url: https://shop.acme.example
  - name: north-wind-2
    platform: jsonld
    base_url: https://www.northwind.example
    start_urls: [https://www.northwind.example/collections/all]
    sitemap_urls: [https://www.northwind.example/sitemap.xml]
    allowed_domains: [northwind.example, cdn.images.example]
    max_products: 500
    settings: {DOWNLOAD_DELAY: 2}
"""


def write(tmp_path, text):
    path = tmp_path / "retailers.yaml"
    path.write_text(text)
    return path


def test_loads_a_valid_registry_with_defaults(tmp_path):
    acme, north = load_registry(write(tmp_path, GOOD))
    assert acme == Retailer("acme", "shopify", "https://shop.acme.example")
    assert acme.domains == ["shop.acme.example"] and acme.max_products == 10000
    assert north.domains == ["northwind.example", "cdn.images.example"]
    assert north.settings == {"DOWNLOAD_DELAY": 2} and north.max_products == 500


def test_round_trips_through_yaml_and_json(tmp_path):
    retailers = load_registry(write(tmp_path, GOOD))
    assert load_registry(write(tmp_path, registry_yaml(retailers))) == retailers
    assert [Retailer.from_json(r.to_json()) for r in retailers] == retailers


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"name": "Acme Shop", "platform": "shopify", "base_url": "https://a.example"}, "must match [a-z0-9-]+"),
        ({"name": "acme_1", "platform": "shopify", "base_url": "https://a.example"}, "must match"),
        ({"platform": "shopify", "base_url": "https://a.example"}, "name None"),
        ({"name": "acme", "platform": "magento", "base_url": "https://a.example"}, "unknown platform 'magento'"),
        ({"name": "acme", "platform": "shopify"}, "base_url: None is not an absolute http(s) URL"),
        ({"name": "acme", "platform": "shopify", "base_url": "ftp://a.example"}, "not an absolute http(s) URL"),
        (
            {
                "name": "acme",
                "platform": "jsonld",
                "base_url": "https://a.example",
                "start_urls": ["https://evil.example/x"],
            },
            "outside allowed_domains",
        ),
        (
            {
                "name": "acme",
                "platform": "jsonld",
                "base_url": "https://a.example",
                "allowed_domains": ["https://a.example"],
            },
            "not a bare host name",
        ),
        (
            {"name": "acme", "platform": "jsonld", "base_url": "https://a.example", "sitemap_urls": "x"},
            "expected a list of strings",
        ),
        (
            {"name": "acme", "platform": "shopify", "base_url": "https://a.example", "max_products": 0},
            "max_products must be a positive integer",
        ),
        (
            {"name": "acme", "platform": "shopify", "base_url": "https://a.example", "settings": {"delay": 1}},
            "UPPER_CASE",
        ),
        (
            {"name": "acme", "platform": "shopify", "base_url": "https://a.example", "shop_type": "x"},
            "unknown field(s) ['shop_type']",
        ),
        ("acme", "expected a mapping"),
    ],
)
def test_rejects_bad_entries_with_a_clear_message(entry, message):
    with pytest.raises(RetailerRegistryError) as err:
        parse_registry({"retailers": [entry]}, "reg.yaml")
    assert message in str(err.value)
    assert "reg.yaml: retailers[0]" in str(err.value)


def test_rejects_duplicate_names():
    entry = {"name": "acme", "platform": "shopify", "base_url": "https://a.example"}
    with pytest.raises(RetailerRegistryError, match="duplicate retailer name 'acme'"):
        parse_registry({"retailers": [entry, dict(entry, platform="jsonld")]})


def test_rejects_missing_file_bad_yaml_and_wrong_shape(tmp_path):
    with pytest.raises(RetailerRegistryError, match="does not exist"):
        load_registry(tmp_path / "nope.yaml")
    with pytest.raises(RetailerRegistryError, match="not valid YAML"):
        load_registry(write(tmp_path, "retailers: [\n"))
    with pytest.raises(RetailerRegistryError, match="'retailers' list"):
        load_registry(write(tmp_path, "- name: acme\n"))


def test_shipped_registry_is_valid():
    from pipeline.config import REPO_ROOT

    for path in sorted((REPO_ROOT / "config").glob("retailers*.yaml")):
        assert load_registry(path), path
