"""A night at catalog scale: ``catalog_refresh`` end to end through ``vitrine dag-run`` on a
synthetic catalog, then an incremental night after the shop changes, measured stage by stage.

1. A synthetic catalog of ``--products`` garments: each photo is drawn from its own seed
   (silhouette with jittered outline, color, pattern of random pitch and angle, accent
   shapes), so no two products look alike; photos are rendered before the clock starts. The
   demo shop serves it on both platforms: every third product is at both retailers, the JSON-LD
   one serving a resized, re-encoded copy: that known rate is the dedup ground truth.
2. Night 1: ``vitrine dag-run catalog_refresh`` in a subprocess on a fresh lake (file://, or a
   moto S3 server with ``--s3``). Per stage (Airflow task instance): wall time, peak RSS of any
   process of the run (sampled every 0.2 s), and for the crawls requests, images downloaded and
   bytes (crawl stats, cross-checked with the shop's own request log).
3. The shop changes: 5% of products get a new photo and price, 1% are new, 1% are delisted.
   Night 2 runs the same DAG; its time and requests are compared with night 1's (targets:
   ≤ 0.15× the time, ≤ 0.10× the requests). Polite-crawl times (the default 0.5 s per request
   per domain, retailers in parallel) are computed from the request counts.
4. Reference, same run: the image pipeline of ``bench/scrape.py`` (Shopify crawl with images
   into a fresh lake); the night's crawl images/s must be ≥ 0.8× that.
5. The index at real scale: Annoy tuned on the night's real embeddings (1,000 held out as
   queries) against sklearn brute force (single query, and single-threaded) and batched numpy
   brute force: recall@10, build time, size, queries/s.

With several ``--products`` sizes, each stage's growth exponent (log t2/t1 / log n2/n1) is
printed between consecutive sizes. The last line is the one outside checks read (README: A night
at catalog scale): ``night: products=N first_s=S incremental_s=S time_ratio=R request_ratio=Q peak_rss_mb=M``.

    nice -n 10 .venv/bin/python -m bench.night --products 10000 30000 [--s3] [--json out.json]
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import math
import multiprocessing
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from PIL import Image, ImageDraw

from pipeline.demo_shop import DemoShop
from pipeline.demo_shop.catalog import COLORS, OUTLINES, Catalog, Product, synthetic_catalog
from pipeline.retailers import registry_yaml

REPO = Path(__file__).resolve().parent.parent

SIZE = 224
POLITE_DELAY = 0.5  # scrapers/settings.py DOWNLOAD_DELAY: seconds per request per domain


# -- the catalog ---------------------------------------------------------------------------------
def draw_product(product: Product) -> bytes:
    """A photo of its own: pose, outline, color, pattern, accents and backdrop all drawn from the
    product's seed (two products share a category and color, never a picture)."""
    rng = random.Random(f"night-{product.pid}-{product.version}")
    s = rng.uniform(0.55, 1.05)
    cx, cy, turn = SIZE / 2 + rng.uniform(-35, 35), SIZE / 2 + rng.uniform(-30, 30), math.radians(rng.uniform(-30, 30))
    cos, sin = math.cos(turn), math.sin(turn)
    points = [(x + rng.uniform(-12, 12), y + rng.uniform(-12, 12)) for x, y in OUTLINES[product.labels["category"]]]
    outline = [(cx + (x * cos - y * sin) * s, cy + (x * sin + y * cos) * s) for x, y in points]
    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).polygon(outline, fill=255)
    base = tuple(min(255, max(0, c + rng.randint(-28, 28))) for c in COLORS[product.color])
    cloth = Image.new("RGB", (SIZE, SIZE), base)
    draw = ImageDraw.Draw(cloth)
    contrast = tuple(255 - c for c in base) if rng.random() < 0.5 else tuple(rng.randint(0, 255) for _ in "rgb")
    step, pattern = rng.randint(7, 30), product.pattern or "solid"
    if pattern == "striped":
        slope, width = rng.uniform(-1.2, 1.2), rng.randint(2, max(2, step // 2))
        for y in range(-SIZE, 2 * SIZE, step):
            draw.line([(0, y), (SIZE, y + slope * SIZE)], fill=contrast, width=width)
    elif pattern == "checked":
        ox, oy = rng.randint(0, step), rng.randint(0, step)
        for y in range(-step, SIZE, step):
            for x in range(-step, SIZE, step):
                if (x // step + y // step) % 2:
                    draw.rectangle([x + ox, y + oy, x + ox + step - 1, y + oy + step - 1], fill=contrast)
    elif pattern == "dotted":
        r = rng.randint(2, max(2, step // 3))
        for y in range(rng.randint(0, step), SIZE, step):
            for x in range(rng.randint(0, step), SIZE, step):
                draw.ellipse([x - r, y - r, x + r, y + r], fill=contrast)
    for _ in range(rng.randint(3, 6)):  # pockets, prints, logos
        x, y, w, h = rng.uniform(30, 194), rng.uniform(30, 194), rng.uniform(15, 80), rng.uniform(15, 80)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x - w / 2, y - h / 2, x + w / 2, y + h / 2], fill=tuple(rng.randint(0, 255) for _ in "rgb"))
    top, bottom = rng.randint(170, 255), rng.randint(170, 255)  # a backdrop lit from one side
    ramp = _ramps()[rng.randrange(len(_ramps()))]
    photo = Image.merge(
        "RGB",
        [
            ramp.point([a + (bottom - a) * v // 255 for v in range(256)])
            for a in (top - rng.randint(0, 25) for _ in "rgb")
        ],
    )
    photo.paste(cloth, (0, 0), mask)
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=rng.randint(82, 92))
    return buf.getvalue()


@functools.lru_cache(maxsize=1)
def _ramps() -> list[Image.Image]:
    """Backdrop gradients in 16 directions."""
    ramp = Image.linear_gradient("L").resize((SIZE, SIZE))
    return [ramp.rotate(angle, fillcolor=128) for angle in range(0, 360, 360 // 16)]


def night_catalog(n: int, seed: int = 0, prefix: str = "") -> Catalog:
    """``n`` labelled products (titles, prices, tags from the demo catalog) with varied photos."""
    return Catalog(synthetic_catalog(n, seed, prefix).products, draw_product)


def _render(args: tuple[Product, float | None]) -> tuple[bytes, bytes | None]:
    from pipeline.demo_shop.catalog import transcode

    product, copy_scale = args
    data = draw_product(product)
    return data, transcode(data, "jpeg", scale=copy_scale, quality=85) if copy_scale else None


def warm(shop: DemoShop, products: list[Product] | None = None) -> float:
    """Render the photos the shop will serve (and the JSON-LD copies) on all cores; seconds."""
    start = time.perf_counter()
    catalog, jsonld = shop.catalog, shop.storefronts["jsonld"]
    todo = [p for p in products or catalog.products if (p.pid, p.version) not in catalog._cache]
    jobs = [(p, jsonld.copy_scale if p.pid in jsonld.copied else None) for p in todo]
    with multiprocessing.get_context("fork").Pool(os.cpu_count()) as pool:
        for product, (data, copy) in zip(todo, pool.imap(_render, jobs, chunksize=64), strict=True):
            catalog._cache[(product.pid, product.version)] = data
            if copy is not None:
                jsonld._memo[(product.pid, product.version, "copy")] = copy
    return time.perf_counter() - start


def mutate(shop: DemoShop, n: int, seed: int) -> dict[str, int]:
    """5% of products change (photo and price), 1% are new, 1% are delisted."""
    rng = random.Random(seed)
    products = list(shop.catalog.products)
    rng.shuffle(products)
    k = max(1, round(0.01 * n))
    changed, gone = products[: 5 * k], products[5 * k : 6 * k]
    shop.change(changed)
    shop.remove(gone)
    shop.add(night_catalog(k, seed=9, prefix="new-").products)
    return {"changed": len(changed), "new": k, "delisted": len(gone)}


# -- measuring a night ---------------------------------------------------------------------------
class RssSampler:
    """Samples the RSS of a process and all its descendants every ``every`` seconds."""

    def __init__(self, pid: int, every: float = 0.2):
        self.root, self.every, self.samples = psutil.Process(pid), every, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            now = time.time()
            for proc in procs:
                try:
                    self.samples.append((now, proc.pid, proc.memory_info().rss))
                except psutil.Error:
                    pass
            self._stop.wait(self.every)

    def peak_mb(self, start: float, end: float) -> float:
        """The largest RSS of any one process between ``start`` and ``end`` (epoch seconds)."""
        inside = [rss for t, _, rss in self.samples if start - self.every <= t <= end + self.every]
        return max(inside, default=0) / 2**20


def task_instances(airflow_home: Path, run: int = -1) -> list[dict[str, Any]]:
    """Task instances of a catalog_refresh run (``run``: index in start order), from the metadata DB."""
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        runs = db.execute("SELECT run_id FROM dag_run WHERE dag_id = 'catalog_refresh' ORDER BY id").fetchall()
        (run_id,) = runs[run]
        rows = db.execute(
            "SELECT task_id, map_index, start_date, end_date, state FROM task_instance "
            "WHERE dag_id = 'catalog_refresh' AND run_id = ? ORDER BY start_date",
            (run_id,),
        ).fetchall()

    def ts(value: str | None) -> float | None:
        if not value:
            return None
        at = datetime.fromisoformat(value)
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()

    return [
        {"task": t, "map_index": m, "start": ts(s), "end": ts(e), "state": st, "run_id": run_id}
        for t, m, s, e, st in rows
    ]


def run_night(env: dict[str, str], log: Path) -> tuple[float, RssSampler, int]:
    """``vitrine dag-run catalog_refresh``; (wall seconds, its RSS samples, exit status)."""
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(REPO / ".venv" / "bin" / "vitrine"), "dag-run", "catalog_refresh"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        with RssSampler(proc.pid) as sampler:
            proc.wait()
    return time.perf_counter() - start, sampler, proc.returncode


def crawl_rows(lake: Any, run_id: str) -> dict[str, dict[str, Any]]:
    from pipeline.schemas import CRAWL_STATS

    table = CRAWL_STATS.read(lake).to_pylist()
    return {r["retailer"]: r for r in table if r["run_id"] == run_id}


def stage_table(
    tis: list[dict], sampler: RssSampler, crawls: dict[str, dict], retailers: list[str], shop_log: list[dict]
) -> list[dict[str, Any]]:
    rows = []
    for ti in tis:
        if ti["start"] is None:
            continue
        name = ti["task"] if ti["map_index"] < 0 else f"{ti['task']}[{ti['map_index']}]"
        peak = sampler.peak_mb(ti["start"], ti["end"]) if sampler else math.nan
        row = {"stage": name, "wall_s": ti["end"] - ti["start"], "peak_rss_mb": peak, "state": ti["state"]}
        if ti["task"] == "scrape":
            retailer = retailers[ti["map_index"]]
            c, stats = crawls[retailer], json.loads(crawls[retailer]["stats_json"])
            store = "shopify" if retailer.endswith("shopify") else "jsonld"
            served = [e for e in shop_log if e["store"] == store]
            row.update(
                stage=f"scrape {retailer}",
                requests=c["requests"],
                served=len(served),
                revalidated_304=c["revalidated_304"],
                images=c["images_new"],
                mb=c["response_bytes"] / 2**20,
                image_mb=c["image_bytes_new"] / 2**20,
                pages_unchanged=stats.get("vitrine/pages_unchanged", 0),
                crawl_s=stats.get("elapsed_time_seconds", 0.0),
            )
            row["images_per_s"] = c["images_new"] / row["crawl_s"] if row["crawl_s"] else 0.0
            if not sampler:  # the crawl process's own peak (Scrapy's memusage extension)
                row["peak_rss_mb"] = stats.get("memusage/max", 0) / 2**20
        rows.append(row)
    return rows


def print_stages(title: str, rows: list[dict], total_s: float, peak: float) -> None:
    print(f"\n{title}: {total_s:.1f} s, peak RSS {peak:.0f} MB", flush=True)
    print(
        f"  {'stage':24s} {'wall s':>8s} {'peak MB':>8s} {'requests':>8s} {'304':>6s} {'unchgd':>7s} "
        f"{'images':>7s} {'MB':>7s} {'img/s':>7s}"
    )
    for r in rows:
        extra = (
            (
                f" {r['requests']:8d} {r['revalidated_304']:6d} {r['pages_unchanged']:7d} {r['images']:7d} "
                f"{r['mb']:7.1f} {r['images_per_s']:7.1f}"
            )
            if "requests" in r
            else ""
        )
        print(f"  {r['stage']:24s} {r['wall_s']:8.1f} {r['peak_rss_mb']:8.0f}{extra}", flush=True)


def dedup_truth(lake: Any, catalog: Catalog) -> dict[str, Any]:
    """Items against the known copies: a product at both retailers should be one item."""
    by_handle = {p.handle: p.pid for p in catalog.products}
    items = lake.read_table("tables/items", columns=["item_id", "offers"]).to_pylist()
    pids_of_item, items_of_pid = {}, {}
    for item in items:
        pids = {by_handle.get(o["url"].rsplit("/", 1)[-1]) for o in item["offers"]}
        pids_of_item[item["item_id"]] = pids
        for pid in pids:
            items_of_pid.setdefault(pid, set()).add(item["item_id"])
    both = [pid for pid, its in items_of_pid.items() if pid is not None]
    return {
        "items": len(items),
        "products": len(both),
        "products_split": sum(len(items_of_pid[p]) > 1 for p in both),
        "items_mixing_products": sum(len(p) > 1 for p in pids_of_item.values()),
    }


# -- the night at one size -----------------------------------------------------------------------
def night_at(n: int, root: Path, s3: str | None, resume: bool = False) -> dict[str, Any]:
    """Both nights at one size; ``resume``: night 1 already ran in ``root`` (its stage times and
    crawl stats are read back, its RSS samples are lost), the shop is served again where it was."""
    from pipeline.lake import Lake
    from pipeline.retailers import load_registry

    home = root / f"n{n}"
    airflow_home = home / "airflow"  # Settings.airflow_home of VITRINE_HOME=home: dag-run's metadata DB
    ports = {}
    if resume:
        ports = {r.platform: int(r.base_url.rsplit(":", 1)[1]) for r in load_registry(home / "retailers.yaml")}
    home.mkdir(parents=True, exist_ok=resume)
    lake_uri = f"s3://night-{n}/lake" if s3 else f"file://{home / 'lake'}"
    if s3:
        import boto3

        boto3.client("s3", endpoint_url=s3).create_bucket(Bucket=f"night-{n}")
    env = {
        **os.environ,
        "VITRINE_HOME": str(home),
        "VITRINE_LAKE": lake_uri,
        "VITRINE_RETAILERS": str(home / "retailers.yaml"),
    }
    result: dict[str, Any] = {"products": n, "lake": "s3 (moto)" if s3 else "file"}
    with DemoShop(night_catalog(n), mess=False, page_size=48, ports=ports) as shop:
        result["render_s"] = 0.0 if resume else warm(shop)
        retailers = [replace(r, max_products=10 * n) for r in shop.retailers(prefix="night")]
        (home / "retailers.yaml").write_text(registry_yaml(retailers))
        names = [r.name for r in retailers]
        result["listings"] = {s: len(shop.storefronts[s].products) for s in shop.storefronts}
        print(
            f"\n== {n} products: {result['listings']} listings, photos rendered in {result['render_s']:.0f} s "
            f"(off the clock), lake {lake_uri}",
            flush=True,
        )
        lake = Lake(lake_uri)
        for night in ("first", "incremental"):
            if night == "incremental":
                before = {(p.pid, p.version) for p in shop.catalog.products}
                result["mutation"] = mutate(shop, n, seed=n)
                fresh = [p for p in shop.catalog.products if (p.pid, p.version) not in before]
                result["render_s_incremental"] = warm(shop, fresh)
            shop.clear_log()
            load = os.getloadavg()
            if resume and night == "first":
                tis = task_instances(airflow_home, 0)
                wall, sampler = None, None
            else:
                wall, sampler, rc = run_night(env, home / f"{night}.log")
                if rc != 0:
                    raise SystemExit(f"{night} night failed (exit {rc}); see {home / f'{night}.log'}")
                tis = task_instances(airflow_home)
            crawls = crawl_rows(lake, tis[0]["run_id"])
            rows = stage_table(tis, sampler, crawls, names, shop.requests())
            span = max(t["end"] for t in tis if t["end"]) - min(t["start"] for t in tis if t["start"])
            wall = span if resume else wall  # resumed: both nights timed first task start → last task end
            peak = max((r["peak_rss_mb"] for r in rows if not math.isnan(r["peak_rss_mb"])), default=math.nan)
            result[night] = {
                "wall_s": wall,
                "dag_s": span,
                "stages": rows,
                "peak_rss_mb": peak,
                "load_before": load,
                "requests": sum(c["requests"] for c in crawls.values()),
                "served": len(shop.requests()),
                "load_after": os.getloadavg(),
                "polite_s": max(c["requests"] for c in crawls.values()) * POLITE_DELAY,
            }
            print_stages(
                f"{night} night, {n} products (load {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after)",
                rows,
                wall,
                peak,
            )
            if night == "first":
                result["dedup"] = dedup_truth(lake, shop.catalog)
                print(f"  dedup vs ground truth: {result['dedup']}", flush=True)
        result["embeddings"] = _embeddings(lake)
    first, inc = result["first"], result["incremental"]
    result["time_ratio"] = inc["wall_s"] / first["wall_s"]
    result["request_ratio"] = inc["requests"] / first["requests"]
    print(
        f"  incremental/first: time {result['time_ratio']:.3f} (target <= 0.15), requests "
        f"{result['request_ratio']:.3f} (target <= 0.10); polite crawl (0.5 s/request/domain, retailers "
        f"in parallel): first {first['polite_s'] / 3600:.1f} h, incremental {inc['polite_s'] / 3600:.2f} h",
        flush=True,
    )
    return result


def _embeddings(lake: Any) -> Any:
    import numpy as np

    from pipeline.embed import read_embeddings
    from pipeline.registry import ensure_production_model

    table = read_embeddings(lake, ensure_production_model(lake), ["embedding"])
    return np.asarray(table.column("embedding").combine_chunks().flatten(), dtype=np.float32).reshape(len(table), -1)


# -- reference and index -------------------------------------------------------------------------
def image_pipeline_reference(root: Path) -> float:
    """images/s of bench/scrape.py's image pipeline row (Shopify crawl with images), this run."""
    from bench import scrape as scrape_bench

    work = root / "reference"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    shop, (shopify, _) = scrape_bench.start_shop(
        work, scrape_bench.SHARED if scrape_bench.SHARED.exists() else None, 3000, 3000
    )
    try:
        row = scrape_bench.crawl(shopify, work, "images", {})
    finally:
        shop.terminate()
        shop.wait()
    return row["images"] / row["elapsed"]


def annoy_at_scale(vectors: Any) -> dict[str, Any]:
    import numpy as np

    from bench.embed_index import bench_annoy
    from pipeline.ann import normalize

    rng = np.random.default_rng(0)
    order = rng.permutation(len(vectors))
    queries, data = normalize(vectors[order[:1000]]), normalize(vectors[order[1000:]])
    return bench_annoy(
        f"{len(data)} real embeddings of the night's catalog, dim {data.shape[1]}",
        data,
        queries,
        0.95,
        200,
        (16, 32, 64, 128),
        (1 / 4, 1, 4),
    )


def growth(results: list[dict]) -> None:
    print("\ngrowth exponent per stage (log t2/t1 / log n2/n1; 1 = linear; peak RSS likewise)")
    for a, b in zip(results, results[1:]):
        scale = math.log(b["products"] / a["products"])
        for night in ("first", "incremental"):
            sa = {r["stage"]: r for r in a[night]["stages"]}
            print(
                f"  {night} night {a['products']} -> {b['products']}: total "
                f"{math.log(b[night]['wall_s'] / a[night]['wall_s']) / scale:.2f}"
            )
            for r in b[night]["stages"]:
                if r["stage"] in sa and sa[r["stage"]]["wall_s"] > 0.5:
                    t = math.log(max(r["wall_s"], 1e-3) / sa[r["stage"]]["wall_s"]) / scale
                    m = math.log(r["peak_rss_mb"] / max(sa[r["stage"]]["peak_rss_mb"], 1)) / scale
                    print(f"    {r['stage']:24s} time {t:5.2f}  rss {m:5.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, nargs="+", default=[10_000])
    parser.add_argument("--s3", action="store_true", help="lake on a moto S3 server instead of file://")
    parser.add_argument("--no-reference", action="store_true", help="skip bench/scrape.py's image pipeline row")
    parser.add_argument("--no-annoy", action="store_true", help="skip the index part")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir, removed)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--resume", action="store_true", help="with --keep: night 1 already ran there; run the incremental night only"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        nargs="*",
        default=[],
        help="--json files of earlier runs at other sizes, for the growth exponents",
    )
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="vitrine-night-"))
    root.mkdir(parents=True, exist_ok=True)
    moto = None
    try:
        s3 = None
        if args.s3:
            port = _free_port()
            moto = subprocess.Popen(
                [str(REPO / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            s3 = f"http://127.0.0.1:{port}"
            os.environ.update(
                AWS_ACCESS_KEY_ID="night",
                AWS_SECRET_ACCESS_KEY="night",
                AWS_DEFAULT_REGION="us-east-1",
                AWS_ENDPOINT_URL=s3,
            )
            _wait_port(port)
        print(
            f"cores {os.cpu_count()}, load {os.getloadavg()}, sizes {args.products}, "
            f"lake {'moto S3' if s3 else 'file'}",
            flush=True,
        )
        reference = None if args.no_reference else image_pipeline_reference(root)
        if reference:
            print(f"bench/scrape.py image pipeline, this run: {reference:.1f} images/s", flush=True)
        results = [night_at(n, root, s3, args.resume) for n in sorted(args.products)]
        for res in results:
            for night in ("first", "incremental"):
                rates = [r["images_per_s"] for r in res[night]["stages"] if r.get("images", 0) > 100]
                if reference and rates and night == "first":
                    res["images_per_s_vs_reference"] = min(rates) / reference
                    print(
                        f"  {res['products']}: night crawl images/s {', '.join(f'{x:.0f}' for x in rates)} = "
                        f"{min(rates) / reference:.2f}x the reference (target >= 0.8)",
                        flush=True,
                    )
        earlier = [r for path in args.compare for r in json.loads(path.read_text())["results"]]
        if len(earlier) + len(results) > 1:
            growth(sorted(earlier + results, key=lambda r: r["products"]))
        last = results[-1]
        if not args.no_annoy:
            last["annoy"] = annoy_at_scale(last["embeddings"])
            print(json.dumps(last["annoy"], indent=2), flush=True)
        for res in results:
            res.pop("embeddings", None)
        if args.json:
            args.json.write_text(
                json.dumps({"reference_images_per_s": reference, "results": results}, indent=1, default=str)
            )
        peak = max(max(r["first"]["peak_rss_mb"], r["incremental"]["peak_rss_mb"]) for r in results)
        print(
            f"night: products={last['products']} first_s={last['first']['wall_s']:.1f} "
            f"incremental_s={last['incremental']['wall_s']:.1f} time_ratio={last['time_ratio']:.3f} "
            f"request_ratio={last['request_ratio']:.3f} peak_rss_mb={peak:.0f}",
            flush=True,
        )
        return 0
    finally:
        if moto:
            moto.terminate()
            moto.wait()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int) -> None:
    import socket

    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("moto server did not start")


if __name__ == "__main__":
    sys.exit(main())
