"""Platform spiders: ``shopify`` and ``jsonld``, one crawl per registry entry."""
