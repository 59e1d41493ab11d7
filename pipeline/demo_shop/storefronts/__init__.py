"""The demo storefronts, one module per platform (``pipeline.platforms`` maps each platform to
its class). With ``mess=True`` they also serve what real retailer sites serve: robots.txt rules,
a 503 that succeeds on retry, 404s, broken and hostile images, off-domain image URLs,
redirects, lazy images, products that are invalid, only in the sitemap or only in listings.
"""
