"""Scrapy settings: polite by default. A retailer's registry ``settings`` override these for
its own crawl; ``pipeline.scrape`` passes VITRINE_RETAILER_FILE, FILES_STORE (the lake),
VITRINE_OUTPUT, VITRINE_HTTPCACHE_DIR and the configured USER_AGENT on the command line."""

from pipeline.config import USER_AGENT  # noqa: F401  (identify honestly, with a way to reach us)

BOT_NAME = "vitrine"
SPIDER_MODULES = ["scrapers.spiders"]
NEWSPIDER_MODULE = "scrapers.spiders"

# Politeness
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
RETRY_TIMES = 3
RETRY_HTTP_CODES = [408, 429, 500, 502, 503, 504, 522, 524]
RETRY_BACKOFF_BASE = 1.0  # seconds before the first retry without Retry-After; doubles each time
RETRY_BACKOFF_MAX = 60.0
RETRY_AFTER_MAX = 300.0  # a longer Retry-After gives up on the request for this run
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024  # pages; images have IMAGES_MAX_BYTES
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # no listening ports on workers
LOG_FORMATTER = "scrapers.extensions.QuietLogFormatter"
STATS_CLASS = "scrapers.extensions.FastStatsCollector"  # Scrapy's, without a per-access shim
LOG_LEVEL = "INFO"

# Incremental: revalidate with ETag / Last-Modified (HTTPCACHE_DIR is set per retailer).
HTTPCACHE_ENABLED = True
HTTPCACHE_POLICY = "scrapy.extensions.httpcache.RFC2616Policy"
HTTPCACHE_STORAGE = "scrapers.extensions.OneFileCacheStorage"  # Scrapy's directory, one file a response
HTTPCACHE_IGNORE_HTTP_CODES = [408, 429, 500, 502, 503, 504, 522, 524]
HTTPCACHE_GZIP = True  # Scrapy's storages; OneFileCacheStorage always compresses (zlib level 1)

# SSRF guard: host names are checked when they are resolved for connecting (see middlewares)
DNS_RESOLVER = TWISTED_DNS_RESOLVER = "scrapers.middlewares.GuardedResolver"
DOWNLOAD_HANDLERS = {"file": None, "data": None, "ftp": None, "s3": None}  # http(s) only

DOWNLOADER_MIDDLEWARES = {
    "scrapers.middlewares.PrivateNetworkMiddleware": 60,  # after OffsiteMiddleware (50), before robots
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scrapers.middlewares.BackoffRetryMiddleware": 550,
    # count what really goes over the network (a 304 stays a 304 in the stats)
    "scrapy.downloadermiddlewares.stats.DownloaderStats": None,
    "scrapers.middlewares.NetworkStats": 950,
}
ITEM_PIPELINES = {
    "scrapers.pipelines.ValidationPipeline": 100,
    "scrapers.pipelines.LakeImagesPipeline": 200,
}
EXTENSIONS = {"scrapers.extensions.CrawlReport": 500, "scrapers.extensions.FreezeStartupObjects": 0}

# Images
MEDIA_ALLOW_REDIRECTS = True  # redirects still pass the offsite and private-address checks
IMAGES_MIN_WIDTH = 50
IMAGES_MIN_HEIGHT = 50
IMAGES_MAX_BYTES = 20 * 1024 * 1024
IMAGES_VERIFY_DECODE = True

# Crawl caps: hitting one stops the crawl cleanly as incomplete (products it missed keep their state)
CLOSESPIDER_PAGECOUNT = 1_000_000  # responses
CLOSESPIDER_TIMEOUT = 3 * 3600  # seconds of wall time (the Airflow task allows 4 h)
VITRINE_MAX_SITEMAPS = 2000
VITRINE_MAX_SITEMAP_DEPTH = 3  # sitemap index → index → urlset is depth 2

SHOPIFY_PAGE_LIMIT = 250  # products per /products.json page (Shopify allows up to 250)
SHOPIFY_PAGES_IN_FLIGHT = 4  # pages requested ahead while paging

FEED_EXPORT_ENCODING = "utf-8"
FEED_EXPORTERS = {"jsonlines": "scrapers.extensions.ProductLinesExporter"}
