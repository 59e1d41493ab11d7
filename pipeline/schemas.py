"""The one definition of every lake table (README: Lake tables): columns, types, meaning, partitioning, key.

Each :class:`Table` names its Hive partition columns (part of the path, ``k=v``, not stored in
the files), the data columns stored in its Parquet files, and the columns that identify a row.
Every writer builds its rows through :meth:`Table.arrow` / :meth:`Table.write`, every reader
goes through :meth:`Table.read`, and the DuckDB views and Athena DDL under ``sql/`` are
generated from here (``pipeline/sqlgen.py``), so a column is spelled once.

Money is ``decimal128(18, 4)`` (exact; four minor units cover every ISO 4217 currency), timestamps
are microseconds in UTC, and a rejection carries a short ``reason`` code plus a free-text
``detail``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pipeline import layout

if TYPE_CHECKING:
    from pipeline.lake import Lake

MONEY = pa.decimal128(18, 4)
TIMESTAMP = pa.timestamp("us", tz="UTC")
STR = pa.string()
STRS = pa.list_(pa.string())
COUNTS = pa.map_(pa.string(), pa.int64())


@dataclass(frozen=True)
class Column:
    """One column: its name, Arrow type and what it means (one sentence, for the README)."""

    name: str
    type: pa.DataType
    doc: str
    nullable: bool = True


def col(name: str, type_: pa.DataType, doc: str, nullable: bool = True) -> Column:
    return Column(name, type_, doc, nullable)


@dataclass(frozen=True)
class Table:
    """A lake table: ``tables/<name>/<partition>=<v>/.../part-<id>.parquet``."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    partitions: tuple[Column, ...] = ()
    view: str | None = None  # a derived table: SQL over other tables ({name} placeholders), no files

    def __post_init__(self) -> None:
        names = [c.name for c in self.all_columns]
        if len(names) != len(set(names)):
            raise ValueError(f"table {self.name}: duplicate column names {names}")
        missing = set(self.key) - set(names)
        if missing:
            raise ValueError(f"table {self.name}: key columns {sorted(missing)} are not columns")

    # -- shape -----------------------------------------------------------------------
    @property
    def schema(self) -> pa.Schema:
        """What the Parquet files hold (no partition columns)."""
        return pa.schema([pa.field(c.name, c.type, c.nullable) for c in self.columns])

    @property
    def all_columns(self) -> tuple[Column, ...]:
        """Data columns followed by partition columns: what a query sees."""
        return self.columns + self.partitions

    @property
    def full_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, c.nullable) for c in self.all_columns])

    @property
    def partition_names(self) -> list[str]:
        return [c.name for c in self.partitions]

    def column(self, name: str) -> Column:
        for c in self.all_columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name!r}")

    # -- addressing ----------------------------------------------------------------------
    def prefix(self, **partitions: Any) -> str:
        """``tables/<name>`` or the prefix of one partition (values in partition order)."""
        unknown = set(partitions) - set(self.partition_names)
        if unknown:
            raise ValueError(f"table {self.name} is not partitioned by {sorted(unknown)}")
        ordered = {p: partition_value(partitions[p]) for p in self.partition_names if p in partitions}
        return layout.table(self.name, **ordered)

    def part(self, part: str = "0", **partitions: Any) -> str:
        """Key of one Parquet file of a (complete) partition."""
        if set(partitions) != set(self.partition_names):
            raise ValueError(f"table {self.name}: a file key needs every partition {self.partition_names}")
        return layout.part(self.prefix(**partitions), partition_value(part))

    # -- rows -----------------------------------------------------------------------------
    def arrow(self, rows: Iterable[Mapping[str, Any]] | pa.Table) -> pa.Table:
        """Rows (dicts or a table) as this table's file schema: columns in order, types cast,
        partition columns dropped, missing nullable columns filled with nulls."""
        if isinstance(rows, pa.Table):
            data = rows
        else:
            rows = list(rows)
            data = pa.Table.from_pylist([_coerce(self, r) for r in rows], schema=self.schema)
        arrays = []
        for c in self.columns:
            if c.name in data.column_names:
                arrays.append(data.column(c.name).cast(c.type))
            elif c.nullable:
                arrays.append(pa.nulls(data.num_rows, c.type))
            else:
                raise ValueError(f"table {self.name}: required column {c.name!r} is missing")
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def write(
        self, lake: Lake, rows: Iterable[Mapping[str, Any]] | pa.Table, part: str = "0", **partitions: Any
    ) -> str:
        """Replace one partition file atomically; returns its key."""
        key = self.part(part, **partitions)
        lake.write_parquet(key, self.arrow(rows))
        return key

    def iter_batches(
        self, lake: Lake, columns: list[str], batch_size: int = 8192, **partitions: Any
    ) -> Iterator[pa.RecordBatch]:
        """The table's rows (the partitions given) in record batches, in the order :meth:`read`
        returns them; ``columns`` are columns of the files (partition columns are not added)."""
        wanted = {p: partition_value(v) for p, v in partitions.items()}
        for key, _ in lake.table_keys(layout.table(self.name), wanted):
            yield from lake.iter_parquet_batches(key, columns=columns, batch_size=batch_size)

    def read(self, lake: Lake, columns: list[str] | None = None, **partitions: Any) -> pa.Table | None:
        """The table (or the partitions given), partition columns typed as declared; None if empty."""
        wanted = {p: partition_value(v) for p, v in partitions.items()}
        table = lake.read_table(layout.table(self.name), partitions=wanted, columns=columns)
        if table is None:
            return None
        for c in self.partitions:
            if c.name in table.column_names and table.schema.field(c.name).type != c.type:
                i = table.column_names.index(c.name)
                table = table.set_column(i, c.name, table.column(c.name).cast(c.type))
        return table


def partition_value(value: Any) -> str:
    """How a partition value is spelled in a key (dates as ISO, other characters made safe)."""
    return layout.safe_segment(value.isoformat() if hasattr(value, "isoformat") else str(value))


def money(value: Any) -> Decimal | None:
    """A price as the exact Decimal the MONEY type stores (floats via their shortest repr)."""
    if value is None or value == "":
        return None
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return amount.quantize(Decimal(1).scaleb(-MONEY.scale))


def reason_code(reason: str) -> str:
    """The short code of a rejection message: ``"too small: 22x22"`` → ``too_small``."""
    head = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", reason.split(":", 1)[0].split(" (", 1)[0])
    return "_".join(re.findall(r"[a-z0-9]+", head.lower())) or "other"


def rejection(reason: str | None) -> dict[str, str | None]:
    """``reason`` (short code) and ``detail`` (the full message) columns of a rejection."""
    return {"reason": reason_code(reason) if reason else None, "detail": reason or None}


def _has_decimal(type_: pa.DataType) -> bool:
    if pa.types.is_decimal(type_):
        return True
    if pa.types.is_list(type_) or pa.types.is_fixed_size_list(type_):
        return _has_decimal(type_.value_type)
    if pa.types.is_struct(type_):
        return any(_has_decimal(f.type) for f in type_)
    return False


def _to_money(type_: pa.DataType, value: Any) -> Any:
    """``value`` with every number at a decimal position of ``type_`` made a Decimal."""
    if value is None:
        return None
    if pa.types.is_decimal(type_):
        return money(value)
    if pa.types.is_list(type_) or pa.types.is_fixed_size_list(type_):
        return [_to_money(type_.value_type, v) for v in value]
    if pa.types.is_struct(type_):
        return {**value, **{f.name: _to_money(f.type, value.get(f.name)) for f in type_ if f.name in value}}
    return value


def _coerce(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for c in table.columns:
        if c.name in out and _has_decimal(c.type):
            out[c.name] = _to_money(c.type, out[c.name])
    return out


# -- the tables --------------------------------------------------------------------------
RETAILER = col("retailer", STR, "retailer name from the registry", nullable=False)
MODEL_VERSION = col("model_version", STR, "attribute-model version (models/attributes/<version>)", nullable=False)

PRODUCTS = Table(
    "products",
    "Current state of every product of a retailer, rewritten by each crawl; products no longer "
    "listed stay with available = false.",
    (
        col("product_id", STR, "retailer-scoped product id", nullable=False),
        col("title", STR, "product name"),
        col("brand", STR, "brand or vendor"),
        col("price", MONEY, "current selling price"),
        col("list_price", MONEY, "regular (before discount) price, when the retailer states one"),
        col("currency", STR, "ISO 4217 currency code"),
        col("availability", STR, "in_stock, out_of_stock, preorder, backorder, discontinued, limited or unknown"),
        col("price_valid_until", pa.date32(), "last day the offer's price holds, when the retailer states one"),
        col("sku", STR, "the retailer's stock keeping unit"),
        col("gtin", STR, "GTIN-8/12/13/14 (barcode), check digit verified"),
        col("mpn", STR, "manufacturer part number"),
        col("category_path", STRS, "retailer's category breadcrumb, outermost first"),
        col("product_type", STR, "retailer's product type"),
        col("tags", STRS, "retailer's tags"),
        col("color", STR, "color as the retailer states it"),
        col("pattern", STR, "pattern as the retailer states it"),
        col("material", STR, "material as the retailer states it"),
        col("description", STR, "description text"),
        col("image_urls", STRS, "image URLs in page order"),
        col("url", STR, "product page URL"),
        col("scraped_at", TIMESTAMP, "when this product was last crawled (UTC)"),
        col("available", pa.bool_(), "listed and in stock at the last complete crawl"),
    ),
    key=("retailer", "product_id"),
    partitions=(RETAILER,),
)

PRODUCT_HISTORY = Table(
    "product_history",
    "One row per product per crawl day: price, list price and availability as seen that day.",
    (
        col("retailer", STR, "retailer name", nullable=False),
        col("product_id", STR, "retailer-scoped product id", nullable=False),
        col("title", STR, "product name that day"),
        col("price", MONEY, "selling price that day"),
        col("list_price", MONEY, "regular price that day"),
        col("currency", STR, "ISO 4217 currency code"),
        col("availability", STR, "availability as the retailer stated it"),
        col("available", pa.bool_(), "listed and in stock that day"),
        col("scraped_at", TIMESTAMP, "when the product was last crawled (UTC)"),
    ),
    key=("day", "retailer", "product_id"),
    partitions=(col("day", pa.date32(), "crawl day (UTC) of the catalog_refresh run", nullable=False),),
)

IMAGES = Table(
    "images",
    "Every image URL of every current product, stored (content-addressed) or rejected with a reason.",
    (
        col("url", STR, "image URL as listed by the retailer", nullable=False),
        col("sha256", STR, "sha256 of the stored bytes (null when rejected)"),
        col("product_id", STR, "product showing the image", nullable=False),
        col("image_key", STR, "lake key of the stored bytes (images/xx/<sha256>.<ext>)"),
        col("width", pa.int32(), "pixels"),
        col("height", pa.int32(), "pixels"),
        col("format", STR, "image format (jpeg, png, webp, ...)"),
        col("bytes", pa.int64(), "size of the stored file"),
        col("status", STR, "stored or rejected", nullable=False),
        col("reason", STR, "rejection code (too_small, corrupt, offsite, ...); null when stored"),
        col("detail", STR, "rejection detail in words"),
        col("position", pa.int32(), "position of the image on the product page, 0 = main"),
    ),
    key=("retailer", "product_id", "url"),
    partitions=(RETAILER,),
)

INVALID_PRODUCTS = Table(
    "invalid_products",
    "Products of the last crawl that broke the item schema and were dropped.",
    (
        col("product_id", STR, "retailer-scoped product id, when it could be read"),
        col("url", STR, "product page URL"),
        col("reason", STR, "rejection code (missing_title, bad_price, ...)"),
        col("detail", STR, "rejection detail in words"),
        col("run_id", STR, "Airflow run that saw it"),
    ),
    key=("retailer", "url"),
    partitions=(RETAILER,),
)

CRAWL_STATS = Table(
    "crawl_stats",
    "One row per retailer per crawl day (file part-<day>; a re-run that day replaces it): "
    "requests, responses, products and images.",
    (
        col("day", pa.date32(), "crawl day (UTC) of the run", nullable=False),
        col("run_id", STR, "Airflow run id", nullable=False),
        col("platform", STR, "shopify or jsonld"),
        col("started_at", TIMESTAMP, "crawl start (UTC)"),
        col("finished_at", TIMESTAMP, "crawl end (UTC)"),
        col("finish_reason", STR, "Scrapy finish reason (finished, closespider_..., shutdown)"),
        col("complete", pa.bool_(), "the crawl saw the whole catalog"),
        col("requests", pa.int64(), "HTTP requests sent"),
        col("responses_by_status", COUNTS, "responses per HTTP status"),
        col("revalidated_304", pa.int64(), "conditional requests answered 304 Not Modified"),
        col("response_bytes", pa.int64(), "bytes received"),
        col("retries", pa.int64(), "requests retried"),
        col("robots_forbidden", pa.int64(), "requests forbidden by robots.txt"),
        col("offsite_filtered", pa.int64(), "requests to other domains dropped"),
        col("private_refused", pa.int64(), "requests to private addresses refused"),
        col("products", pa.int64(), "valid products seen"),
        col("products_unavailable", pa.int64(), "products now marked unavailable"),
        col("products_available", pa.int64(), "available products in the products table after the crawl"),
        col("price_median", MONEY, "median price of the available products after the crawl"),
        col("invalid_items", pa.int64(), "products dropped as invalid"),
        col("invalid_reasons", COUNTS, "invalid products per reason code"),
        col("images_stored", pa.int64(), "images stored (new or known)"),
        col("images_new", pa.int64(), "images downloaded and stored for the first time"),
        col("images_known", pa.int64(), "images already stored earlier"),
        col("images_rejected", pa.int64(), "images rejected"),
        col("rejected_reasons", COUNTS, "rejected images per reason code"),
        col("image_bytes_new", pa.int64(), "bytes of newly stored images"),
        col("stats_json", STR, "all Scrapy stats as JSON"),
    ),
    key=("retailer", "day"),
    partitions=(RETAILER,),
)

DUPLICATES = Table(
    "duplicates",
    "Every stored image with its near-duplicate group and the group's canonical image.",
    (
        col("sha256", STR, "stored image", nullable=False),
        col("group_id", STR, "near-duplicate group (= item_id of the item it forms)", nullable=False),
        col("canonical_sha256", STR, "the group's canonical image", nullable=False),
        col("distance", pa.int16(), "pHash bit distance to the canonical image"),
    ),
    key=("sha256",),
)

OFFER = pa.struct(
    [
        ("retailer", STR),
        ("product_id", STR),
        ("url", STR),
        ("price", MONEY),
        ("currency", STR),
        ("gtin", STR),
    ]
)

ITEMS = Table(
    "items",
    "One row per item: a deduplicated product image group, with every retailer offer showing it.",
    (
        col("item_id", STR, "stable item id (the group id)", nullable=False),
        col("group_id", STR, "near-duplicate group id", nullable=False),
        col("canonical_sha256", STR, "the canonical image", nullable=False),
        col("image_key", STR, "lake key of the canonical image"),
        col("title", STR, "title of the canonical image's product"),
        col(
            "offers",
            pa.list_(OFFER),
            "available products showing the item (or sharing its GTIN): retailer, product_id, url, price, currency, gtin",
        ),
        col("n_images", pa.int32(), "images in the group"),
    ),
    key=("item_id",),
)

OFFERS = Table(
    "offers",
    "One row per (item, retailer offer): the items table's offers unnested.",
    (
        col("item_id", STR, "item", nullable=False),
        col("title", STR, "item title"),
        col("retailer", STR, "retailer selling it"),
        col("product_id", STR, "the retailer's product"),
        col("url", STR, "product page URL"),
        col("price", MONEY, "current price"),
        col("currency", STR, "ISO 4217 currency code"),
    ),
    key=("item_id", "retailer", "product_id"),
    view="SELECT i.item_id, i.title, o.retailer, o.product_id, o.url, o.price, o.currency "
    "FROM {items} AS i CROSS JOIN UNNEST(i.offers) AS t(o)",
)

EMBEDDINGS = Table(
    "embeddings",
    "The embedding of every canonical image, per model version (written in shards).",
    (
        col("item_id", STR, "item the image was canonical for when embedded", nullable=False),
        col("image_sha256", STR, "embedded image", nullable=False),
        col("embedding", pa.list_(pa.float32()), "embedding vector (fixed length: the model's embedding_dim)"),
    ),
    key=("model_version", "image_sha256"),
    partitions=(MODEL_VERSION,),
)

EMBEDDING_REJECTS = Table(
    "embedding_rejects",
    "Canonical images that could not be read or decoded for embedding, per model version.",
    (
        col("item_id", STR, "item", nullable=False),
        col("image_sha256", STR, "image", nullable=False),
        col("reason", STR, "rejection code (unreadable, undecodable, ...)"),
        col("detail", STR, "rejection detail in words"),
    ),
    key=("model_version", "image_sha256"),
    partitions=(MODEL_VERSION,),
)

RELEASES = Table(
    "releases",
    "One row per publishing run: the release it published (README: The release). A DAG run's row is filed "
    "under its DAG and logical date, so a re-run of that date replaces it (the earlier release stays "
    "until retention removes it).",
    (
        col("release_id", STR, "sortable release id (UTC timestamp + run hash)", nullable=False),
        col("created_at", TIMESTAMP, "when the release was claimed (UTC)", nullable=False),
        col("run_id", STR, "Airflow run that published it"),
        col("model_version", STR, "attribute/embedding model of the release"),
        col("n_items", pa.int64(), "items in the index"),
        col("dim", pa.int32(), "embedding dimension"),
        col("metric", STR, "Annoy metric"),
        col("n_trees", pa.int32(), "Annoy trees"),
        col("search_k", pa.int64(), "Annoy search_k used by consumers"),
        col("recall_at_10", pa.float64(), "measured recall@10 against exact search"),
        col("bytes", pa.int64(), "size of the release files"),
        col("manifest", STR, "lake key of manifest.json"),
    ),
    key=("release_id",),
)

MODELS = Table(
    "models",
    "One row per registered attribute model, with its metrics and whether it was promoted.",
    (
        col("model_version", STR, "model version", nullable=False),
        col("created_at", TIMESTAMP, "registration time (UTC)"),
        col("backbone", STR, "backbone architecture"),
        col("image_size", pa.int32(), "input size in pixels"),
        col("embedding_dim", pa.int32(), "embedding dimension"),
        col("attributes", STRS, "attribute heads"),
        col("trained", pa.bool_(), "false for the seeded initial model"),
        col("mean_accuracy", pa.float64(), "mean test accuracy over its heads, when evaluated"),
        col("metrics_json", STR, "all registered metrics as JSON"),
        col("promoted", pa.bool_(), "was production at some point"),
        col("promoted_at", TIMESTAMP, "last promotion time (UTC)"),
        col("is_production", pa.bool_(), "is the production model now"),
    ),
    key=("model_version",),
)

DQ_RESULTS = Table(
    "dq_results",
    "One row per data-quality check per subject per run; a DAG run's rows are filed under its "
    "DAG and logical date, so a re-run of that date replaces them.",
    (
        col("run_id", STR, "run that checked", nullable=False),
        col("check_name", STR, "check name from config/dq_checks.yaml", nullable=False),
        col("subject", STR, "what was measured (a retailer, an attribute, or 'catalog')", nullable=False),
        col("passed", pa.bool_(), "the check held", nullable=False),
        col("value", pa.float64(), "measured value"),
        col("threshold", pa.float64(), "the configured limit"),
        col("message", STR, "outcome in words, with the numbers"),
        col("checked_at", TIMESTAMP, "when it ran (UTC)"),
    ),
    key=("run_id", "check_name", "subject"),
)


def attributes_table(attributes: Iterable[str]) -> Table:
    """The attributes table for these attribute names (the taxonomy's, by default)."""
    columns = [
        col("item_id", STR, "item", nullable=False),
        col("image_sha256", STR, "the item's canonical image the prediction is for"),
    ]
    for name in attributes:
        columns.append(col(name, STR, f"predicted {name} (a value of its vocabulary; null if unreadable)"))
        columns.append(col(f"{name}_confidence", pa.float32(), f"probability of the predicted {name}"))
    return Table(
        "attributes",
        "Predicted attributes of every item, one row per item and model version.",
        tuple(columns),
        key=("model_version", "item_id"),
        partitions=(MODEL_VERSION,),
    )


@lru_cache(maxsize=1)
def _taxonomy_attributes() -> tuple[str, ...]:
    from pipeline.taxonomy import load_taxonomy

    return tuple(load_taxonomy().vocabularies())


def attributes() -> Table:
    """The attributes table of the configured taxonomy."""
    return attributes_table(_taxonomy_attributes())


def current_attributes() -> Table:
    """View: attributes of the production model only (not the newest version)."""
    base = attributes()
    select = ", ".join(f"a.{c.name}" for c in base.all_columns)
    return Table(
        "current_attributes",
        "Attributes predicted by the production model (models.is_production), one row per item.",
        base.all_columns,
        key=("item_id",),
        view=f"SELECT {select} FROM {{attributes}} AS a "
        "JOIN {models} AS m ON m.model_version = a.model_version AND m.is_production",
    )


STATIC_TABLES: tuple[Table, ...] = (
    PRODUCTS,
    PRODUCT_HISTORY,
    IMAGES,
    INVALID_PRODUCTS,
    CRAWL_STATS,
    DUPLICATES,
    ITEMS,
    EMBEDDINGS,
    EMBEDDING_REJECTS,
    RELEASES,
    MODELS,
    DQ_RESULTS,
)


def all_tables() -> list[Table]:
    """Every table with files, then the derived views (in dependency order)."""
    return [*STATIC_TABLES, attributes(), OFFERS, current_attributes()]


def table(name: str) -> Table:
    for t in all_tables():
        if t.name == name:
            return t
    raise KeyError(f"no lake table {name!r}")
