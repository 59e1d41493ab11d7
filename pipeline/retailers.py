"""The retailer registry (README: Adding a retailer): one YAML entry per retailer, validated on load."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pipeline.platforms import PLATFORMS

NAME_RE = re.compile(r"[a-z0-9-]+")  # used with fullmatch: "acme\n" is not a name
DOMAIN_RE = re.compile(r"[a-z0-9.-]+")
FIELDS = ("name", "platform", "base_url", "start_urls", "sitemap_urls", "allowed_domains", "max_products", "settings")
# Scrapy settings a registry entry may override: politeness, retries and crawl limits. Nothing
# that changes what runs (middlewares, pipelines, resolver), where files go, or the size limits.
OVERRIDABLE_SETTINGS = frozenset(
    {
        "DOWNLOAD_DELAY",
        "RANDOMIZE_DOWNLOAD_DELAY",
        "CONCURRENT_REQUESTS",
        "CONCURRENT_REQUESTS_PER_DOMAIN",
        "AUTOTHROTTLE_ENABLED",
        "AUTOTHROTTLE_START_DELAY",
        "AUTOTHROTTLE_MAX_DELAY",
        "AUTOTHROTTLE_TARGET_CONCURRENCY",
        "USER_AGENT",
        "DEFAULT_REQUEST_HEADERS",
        "DOWNLOAD_TIMEOUT",
        "RETRY_TIMES",
        "RETRY_BACKOFF_BASE",
        "RETRY_BACKOFF_MAX",
        "RETRY_AFTER_MAX",
        "HTTPCACHE_ENABLED",
        "SHOPIFY_PAGE_LIMIT",
        "SHOPIFY_PAGES_IN_FLIGHT",
        "VITRINE_PRODUCT_LINK_PATTERN",
        "VITRINE_MAX_PAGE_AGE_DAYS",
        "CLOSESPIDER_PAGECOUNT",
        "CLOSESPIDER_TIMEOUT",
        "VITRINE_MAX_SITEMAPS",
        "VITRINE_MAX_SITEMAP_DEPTH",
    }
)


class RetailerRegistryError(ValueError):
    """The registry file is malformed; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Retailer:
    """One retailer: where its storefront is and how to crawl it."""

    name: str
    platform: str
    base_url: str
    start_urls: list[str] = field(default_factory=list)
    sitemap_urls: list[str] = field(default_factory=list)
    allowed_domains: list[str] = field(default_factory=list)
    max_products: int = 10000
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return urlparse(self.base_url).hostname or ""

    @property
    def domains(self) -> list[str]:
        """Hosts the crawler may fetch from (``allowed_domains`` or the host of ``base_url``)."""
        return list(self.allowed_domains) or [self.host]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Retailer:
        return parse_entry(json.loads(text), "<json>", check_settings=False)


def _url(value: Any, where: str) -> str:
    parsed = urlparse(value) if isinstance(value, str) else None
    if not parsed or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise RetailerRegistryError(f"{where}: {value!r} is not an absolute http(s) URL")
    return value


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RetailerRegistryError(f"{where}: expected a list of strings, got {value!r}")
    return list(value)


def parse_entry(entry: Any, where: str, *, check_settings: bool = True) -> Retailer:
    """Validate one registry entry (a mapping) into a :class:`Retailer`. ``check_settings=False``
    is for an entry built in code (tests, benchmarks) and handed to the crawl process."""
    if not isinstance(entry, dict):
        raise RetailerRegistryError(f"{where}: expected a mapping, got {type(entry).__name__}")
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise RetailerRegistryError(f"{where}: unknown field(s) {unknown}; allowed: {list(FIELDS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise RetailerRegistryError(f"{where}: name {name!r} must match [a-z0-9-]+")
    where = f"{where} ({name})"
    platform = entry.get("platform")
    if platform not in PLATFORMS:
        raise RetailerRegistryError(f"{where}: unknown platform {platform!r}; supported: {list(PLATFORMS)}")
    base_url = _url(entry.get("base_url"), f"{where} base_url")
    start_urls = [_url(u, f"{where} start_urls") for u in _str_list(entry.get("start_urls"), f"{where} start_urls")]
    sitemap_urls = [
        _url(u, f"{where} sitemap_urls") for u in _str_list(entry.get("sitemap_urls"), f"{where} sitemap_urls")
    ]
    domains = [d.lower() for d in _str_list(entry.get("allowed_domains"), f"{where} allowed_domains")]
    for domain in domains:
        if not DOMAIN_RE.fullmatch(domain):
            raise RetailerRegistryError(
                f"{where} allowed_domains: {domain!r} is not a bare host name (no scheme, port or path)"
            )
    max_products = entry.get("max_products", 10000)
    if isinstance(max_products, bool) or not isinstance(max_products, int) or max_products < 1:
        raise RetailerRegistryError(f"{where}: max_products must be a positive integer, got {max_products!r}")
    settings = entry.get("settings") or {}
    if not isinstance(settings, dict) or not all(isinstance(k, str) and k.isupper() for k in settings):
        raise RetailerRegistryError(f"{where}: settings must map UPPER_CASE Scrapy setting names to values")
    refused = sorted(set(settings) - OVERRIDABLE_SETTINGS) if check_settings else []
    if refused:
        raise RetailerRegistryError(
            f"{where}: setting(s) {refused} may not be overridden per retailer; allowed: {sorted(OVERRIDABLE_SETTINGS)}"
        )
    retailer = Retailer(name, platform, base_url, start_urls, sitemap_urls, domains, max_products, settings)
    offsite = [u for u in [*start_urls, *sitemap_urls] if not _on_domains(u, retailer.domains)]
    if offsite:
        raise RetailerRegistryError(f"{where}: URL(s) outside allowed_domains {retailer.domains}: {offsite}")
    return retailer


def _on_domains(url: str, domains: list[str]) -> bool:
    host = urlparse(url).hostname or ""
    return any(host == d or host.endswith("." + d) for d in domains)


def parse_registry(data: Any, source: str = "<registry>") -> list[Retailer]:
    """Validate a parsed registry document (``{"retailers": [...]}``)."""
    if not isinstance(data, dict) or not isinstance(data.get("retailers"), list):
        raise RetailerRegistryError(f"{source}: expected a mapping with a 'retailers' list")
    retailers = [parse_entry(e, f"{source}: retailers[{i}]") for i, e in enumerate(data["retailers"])]
    seen: set[str] = set()
    for r in retailers:
        if r.name in seen:
            raise RetailerRegistryError(f"{source}: duplicate retailer name {r.name!r}")
        seen.add(r.name)
    return retailers


def load_registry(path: str | Path) -> list[Retailer]:
    """Read and validate the registry YAML at ``path``."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise RetailerRegistryError(f"retailer registry {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise RetailerRegistryError(f"{path}: not valid YAML: {exc}") from exc
    return parse_registry(data, str(path))


def registry_yaml(retailers: list[Retailer]) -> str:
    """Serialise retailers back into registry YAML (used by the demo shop)."""
    import yaml

    return yaml.safe_dump({"retailers": [r.to_dict() for r in retailers]}, sort_keys=False)
