"""Every script in bench/ runs to its end on tiny inputs (``python -m bench.<name>``, as the
README says), so that none can rot; what it measures is not checked. The ones that need what a
test cannot have in seconds (a night of DAG runs, a trained model's lake, a GPU, a server
under load, multi-megapixel decodes in child processes) read their arguments (``--help``)
instead, which imports them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.dedup import garment

pytestmark = pytest.mark.heavy  # the crawl and training benchmarks take a minute each

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p.stem for p in (REPO / "bench").glob("*.py") if p.stem != "__init__")
HELP_ONLY = {"night", "embeddings", "efficientnet_port", "train_gpu", "serve", "profile"}
SPIDERS = {"vanilla_shopify"}  # a spider module `bench.scrape` runs with `scrapy runspider`


def _photos(folder: Path, n: int = 4) -> Path:
    folder.mkdir()
    for i in range(n):
        garment(i, size=96).save(folder / f"{i}.png")
    return folder


def _pages(folder: Path) -> Path:
    """One product page (JSON-LD) and one page that is not a product, with their ground truth."""
    folder.mkdir()
    product = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": "Linen Shirt",
        "sku": "LS-1",
        "offers": {"@type": "Offer", "price": "19.90", "priceCurrency": "EUR"},
    }
    (folder / "p1.html").write_text(
        f'<html><head><script type="application/ld+json">{json.dumps(product)}</script></head><body></body></html>'
    )
    (folder / "p2.html").write_text("<html><body><h1>About us</h1></body></html>")
    truth = {
        "p1": {"url": "https://shop.example/p/1", "title": "Linen Shirt", "price": "19.90", "currency": "EUR"},
        "p2": {"url": "https://shop.example/about", "product": False},
    }
    (folder / "ground-truth.json").write_text(json.dumps(truth))
    return folder


def _annotated_pages(folder: Path) -> Path:
    """A formasaurus-shaped data folder: ``index.json`` (URL and form types) and ``html/``."""
    (folder / "html").mkdir(parents=True)
    cart = "<h1>Linen Shirt</h1><span class='price'>19,90 €</span><form><button>Add to cart</button></form>"
    (folder / "html" / "1.html").write_text(f"<html><body>{cart}</body></html>")
    (folder / "html" / "2.html").write_text("<html><body><h1>Log in</h1><form><input name='user'></form></body></html>")
    index = {
        "html/1.html": {"url": "https://shop.example/linen-shirt", "forms": ["b"]},
        "html/2.html": {"url": "https://forum.example/login", "forms": ["l"]},
    }
    (folder / "index.json").write_text(json.dumps(index))
    return folder


# script → the arguments that make it run in seconds, given a scratch folder
TINY: dict[str, Callable[[Path], list[str]]] = {
    "crawl_alone": lambda tmp: ["--products", "30"],
    "decode_memory": lambda tmp: [
        *("--side", "800", "--under-side", "600", "--count", "2", "--stages", "scrape", "dedup"),
    ],
    "dedup": lambda tmp: [
        *("--sizes", "300", "--million", "3000", "--photo-limit", "4"),
        *("--photos", str(_photos(tmp / "photos")), "--imagededup-python", str(tmp / "no-imagededup")),
    ],
    "embed_index": lambda tmp: ["--parts", "annoy", "--annoy-sizes", "300", "--queries", "20", "--dim", "8"],
    "extraction": lambda tmp: [str(_pages(tmp / "pages"))],
    "page_sweep": lambda tmp: [str(_annotated_pages(tmp / "data")), "--list"],
    "scrape": lambda tmp: ["--limit", "12", "--products", "12", "--steady-products", "12", "--bench-seconds", "1"],
    "train": lambda tmp: [
        *("--images", "24", "--image-size", "32", "--batch-size", "8"),
        *("--steps", "1", "--rounds", "1", "--pretrained-size", "32"),
    ],
}


def test_every_script_is_covered() -> None:
    assert set(SCRIPTS) == set(TINY) | HELP_ONLY | SPIDERS, "a new bench script needs tiny arguments in TINY"


@pytest.mark.parametrize("name", [s for s in SCRIPTS if s not in SPIDERS])
def test_bench_script_runs(name: str, tmp_path: Path) -> None:
    args = ["--help"] if name in HELP_ONLY else TINY[name](tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"bench/{name}.py {args}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.stdout.strip(), f"bench/{name}.py printed nothing"
