"""The bundled demo retailer shop (``vitrine demo-shop``): a Shopify-style storefront and a
JSON-LD storefront on loopback, serving a synthetic catalog or a folder of real photos."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pipeline.demo_shop.catalog import Catalog, Product, folder_catalog, synthetic_catalog
from pipeline.demo_shop.server import FAST_SETTINGS, DemoShop

__all__ = ["Catalog", "DemoShop", "FAST_SETTINGS", "Product", "add_cli", "folder_catalog", "synthetic_catalog"]


def add_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``vitrine demo-shop``."""
    p = subparsers.add_parser("demo-shop", help="serve the demo retailer storefronts on loopback")
    add_arguments(p)
    p.set_defaults(func=cmd_demo_shop)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", type=Path, help="folder with images/<id>.jpg and labels.csv (default: synthetic)")
    p.add_argument("--limit", type=int, help="serve at most N products of --catalog")
    p.add_argument("--products", type=int, default=60, help="synthetic catalog size (default 60)")
    p.add_argument("--seed", type=int, default=0, help="synthetic catalog seed")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="Shopify storefront port; JSON-LD gets port+1 (default: free)")
    p.add_argument("--page-size", type=int, default=24, help="products per listing page (default 24)")
    p.add_argument("--no-mess", action="store_true", help="serve only clean products (no broken images etc.)")
    p.add_argument("--registry-out", type=Path, help="write the registry YAML for both storefronts here")
    p.add_argument("--prefix", default="demo", help="retailer name prefix (default: demo)")
    p.add_argument("--log", type=Path, help="append every request served as JSON lines to this file")


def cmd_demo_shop(args: argparse.Namespace) -> int:
    catalog = folder_catalog(args.catalog, args.limit) if args.catalog else synthetic_catalog(args.products, args.seed)
    with DemoShop(
        catalog, mess=not args.no_mess, host=args.host, port=args.port, page_size=args.page_size, log_path=args.log
    ) as shop:
        for name, store in shop.storefronts.items():
            print(f"{name:8s} storefront: {store.base_url}  ({len(store.products)} products)", flush=True)
        if args.registry_out:
            shop.write_registry(args.registry_out, args.prefix)
            print(f"registry written to {args.registry_out}", flush=True)
        else:
            print(shop.registry_yaml(args.prefix), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0
