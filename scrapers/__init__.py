"""Vitrine's Scrapy project: platform spiders driven by the retailer registry."""
