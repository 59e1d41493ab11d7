-- Athena DDL for a Vitrine lake, generated from pipeline/schemas.py (vitrine sql --write-sql).
-- Placeholders: ${DB} Glue database, ${LAKE} s3://bucket/prefix, ${RETAILERS} and
-- ${MODEL_VERSIONS} comma-separated partition values; `vitrine sql --athena-ddl DB` fills them in.

CREATE DATABASE IF NOT EXISTS ${DB};

-- products: Current state of every product of a retailer, rewritten by each crawl; products no longer listed stay with available = false.
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.products (
  product_id        string,
  title             string,
  brand             string,
  price             decimal(18,4),
  list_price        decimal(18,4),
  currency          string,
  availability      string,
  price_valid_until date,
  sku               string,
  gtin              string,
  mpn               string,
  category_path     array<string>,
  product_type      string,
  tags              array<string>,
  color             string,
  pattern           string,
  material          string,
  description       string,
  image_urls        array<string>,
  url               string,
  scraped_at        timestamp,
  available         boolean
)
PARTITIONED BY (retailer string)
STORED AS PARQUET
LOCATION '${LAKE}/tables/products/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.retailer.type' = 'enum',
  'projection.retailer.values' = '${RETAILERS}',
  'storage.location.template' = '${LAKE}/tables/products/retailer=${retailer}/'
);

-- product_history: One row per product per crawl day: price, list price and availability as seen that day.
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.product_history (
  retailer     string,
  product_id   string,
  title        string,
  price        decimal(18,4),
  list_price   decimal(18,4),
  currency     string,
  availability string,
  available    boolean,
  scraped_at   timestamp
)
PARTITIONED BY (day date)
STORED AS PARQUET
LOCATION '${LAKE}/tables/product_history/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.day.type' = 'date',
  'projection.day.range' = '2026-01-01,NOW',
  'projection.day.format' = 'yyyy-MM-dd',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = '${LAKE}/tables/product_history/day=${day}/'
);

-- images: Every image URL of every current product, stored (content-addressed) or rejected with a reason.
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.images (
  url        string,
  sha256     string,
  product_id string,
  image_key  string,
  width      int,
  height     int,
  format     string,
  bytes      bigint,
  status     string,
  reason     string,
  detail     string,
  position   int
)
PARTITIONED BY (retailer string)
STORED AS PARQUET
LOCATION '${LAKE}/tables/images/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.retailer.type' = 'enum',
  'projection.retailer.values' = '${RETAILERS}',
  'storage.location.template' = '${LAKE}/tables/images/retailer=${retailer}/'
);

-- invalid_products: Products of the last crawl that broke the item schema and were dropped.
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.invalid_products (
  product_id string,
  url        string,
  reason     string,
  detail     string,
  run_id     string
)
PARTITIONED BY (retailer string)
STORED AS PARQUET
LOCATION '${LAKE}/tables/invalid_products/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.retailer.type' = 'enum',
  'projection.retailer.values' = '${RETAILERS}',
  'storage.location.template' = '${LAKE}/tables/invalid_products/retailer=${retailer}/'
);

-- crawl_stats: One row per retailer per crawl day (file part-<day>; a re-run that day replaces it): requests, responses, products and images.
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.crawl_stats (
  day                  date,
  run_id               string,
  platform             string,
  started_at           timestamp,
  finished_at          timestamp,
  finish_reason        string,
  complete             boolean,
  requests             bigint,
  responses_by_status  map<string,bigint>,
  revalidated_304      bigint,
  response_bytes       bigint,
  retries              bigint,
  robots_forbidden     bigint,
  offsite_filtered     bigint,
  private_refused      bigint,
  products             bigint,
  products_unavailable bigint,
  products_available   bigint,
  price_median         decimal(18,4),
  invalid_items        bigint,
  invalid_reasons      map<string,bigint>,
  images_stored        bigint,
  images_new           bigint,
  images_known         bigint,
  images_rejected      bigint,
  rejected_reasons     map<string,bigint>,
  image_bytes_new      bigint,
  stats_json           string
)
PARTITIONED BY (retailer string)
STORED AS PARQUET
LOCATION '${LAKE}/tables/crawl_stats/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.retailer.type' = 'enum',
  'projection.retailer.values' = '${RETAILERS}',
  'storage.location.template' = '${LAKE}/tables/crawl_stats/retailer=${retailer}/'
);

-- duplicates: Every stored image with its near-duplicate group and the group's canonical image.
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.duplicates (
  sha256           string,
  group_id         string,
  canonical_sha256 string,
  distance         smallint
)
STORED AS PARQUET
LOCATION '${LAKE}/tables/duplicates/';

-- items: One row per item: a deduplicated product image group, with every retailer offer showing it.
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.items (
  item_id          string,
  group_id         string,
  canonical_sha256 string,
  image_key        string,
  title            string,
  offers           array<struct<retailer:string,product_id:string,url:string,price:decimal(18,4),currency:string,gtin:string>>,
  n_images         int
)
STORED AS PARQUET
LOCATION '${LAKE}/tables/items/';

-- embeddings: The embedding of every canonical image, per model version (written in shards).
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.embeddings (
  item_id      string,
  image_sha256 string,
  embedding    array<float>
)
PARTITIONED BY (model_version string)
STORED AS PARQUET
LOCATION '${LAKE}/tables/embeddings/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.model_version.type' = 'enum',
  'projection.model_version.values' = '${MODEL_VERSIONS}',
  'storage.location.template' = '${LAKE}/tables/embeddings/model_version=${model_version}/'
);

-- embedding_rejects: Canonical images that could not be read or decoded for embedding, per model version.
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.embedding_rejects (
  item_id      string,
  image_sha256 string,
  reason       string,
  detail       string
)
PARTITIONED BY (model_version string)
STORED AS PARQUET
LOCATION '${LAKE}/tables/embedding_rejects/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.model_version.type' = 'enum',
  'projection.model_version.values' = '${MODEL_VERSIONS}',
  'storage.location.template' = '${LAKE}/tables/embedding_rejects/model_version=${model_version}/'
);

-- releases: One row per publishing run: the release it published (README: The release). A DAG run's row is filed under its DAG and logical date, so a re-run of that date replaces it (the earlier release stays until retention removes it).
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.releases (
  release_id    string,
  created_at    timestamp,
  run_id        string,
  model_version string,
  n_items       bigint,
  dim           int,
  metric        string,
  n_trees       int,
  search_k      bigint,
  recall_at_10  double,
  bytes         bigint,
  manifest      string
)
STORED AS PARQUET
LOCATION '${LAKE}/tables/releases/';

-- models: One row per registered attribute model, with its metrics and whether it was promoted.
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.models (
  model_version string,
  created_at    timestamp,
  backbone      string,
  image_size    int,
  embedding_dim int,
  attributes    array<string>,
  trained       boolean,
  mean_accuracy double,
  metrics_json  string,
  promoted      boolean,
  promoted_at   timestamp,
  is_production boolean
)
STORED AS PARQUET
LOCATION '${LAKE}/tables/models/';

-- dq_results: One row per data-quality check per subject per run; a DAG run's rows are filed under its DAG and logical date, so a re-run of that date replaces them.
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.dq_results (
  run_id     string,
  check_name string,
  subject    string,
  passed     boolean,
  value      double,
  threshold  double,
  message    string,
  checked_at timestamp
)
STORED AS PARQUET
LOCATION '${LAKE}/tables/dq_results/';

-- attributes: Predicted attributes of every item, one row per item and model version.
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.attributes (
  item_id             string,
  image_sha256        string,
  category            string,
  category_confidence float,
  color               string,
  color_confidence    float,
  pattern             string,
  pattern_confidence  float,
  gender              string,
  gender_confidence   float,
  usage               string,
  usage_confidence    float
)
PARTITIONED BY (model_version string)
STORED AS PARQUET
LOCATION '${LAKE}/tables/attributes/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.model_version.type' = 'enum',
  'projection.model_version.values' = '${MODEL_VERSIONS}',
  'storage.location.template' = '${LAKE}/tables/attributes/model_version=${model_version}/'
);

-- offers: One row per (item, retailer offer): the items table's offers unnested.
CREATE OR REPLACE VIEW ${DB}.offers AS
SELECT i.item_id, i.title, o.retailer, o.product_id, o.url, o.price, o.currency FROM ${DB}.items AS i CROSS JOIN UNNEST(i.offers) AS t(o);

-- current_attributes: Attributes predicted by the production model (models.is_production), one row per item.
CREATE OR REPLACE VIEW ${DB}.current_attributes AS
SELECT a.item_id, a.image_sha256, a.category, a.category_confidence, a.color, a.color_confidence, a.pattern, a.pattern_confidence, a.gender, a.gender_confidence, a.usage, a.usage_confidence, a.model_version FROM ${DB}.attributes AS a JOIN ${DB}.models AS m ON m.model_version = a.model_version AND m.is_production;
