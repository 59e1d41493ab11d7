-- Vitrine lake tables for Athena (Hive-partitioned Parquet under ${LAKE}/tables/).

CREATE DATABASE IF NOT EXISTS ${DB};

CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.products (
  product_id    string,
  title         string,
  brand         string,
  price         double,
  currency      string,
  availability  string,
  category_path array<string>,
  product_type  string,
  tags          array<string>,
  color         string,
  pattern       string,
  material      string,
  description   string,
  image_urls    array<string>,
  url           string,
  scraped_at    timestamp,
  available     boolean
)
PARTITIONED BY (retailer string)
STORED AS PARQUET
LOCATION '${LAKE}/tables/products/'
TBLPROPERTIES ('projection.enabled' = 'true', 'projection.retailer.type' = 'injected',
               'storage.location.template' = '${LAKE}/tables/products/retailer=${retailer}/');

CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.images (
  url         string,
  sha256      string,
  product_id  string,
  image_key   string,
  width       int,
  height      int,
  format      string,
  bytes       bigint,
  status      string,
  reason      string,
  position    int
)
PARTITIONED BY (retailer string)
STORED AS PARQUET
LOCATION '${LAKE}/tables/images/'
TBLPROPERTIES ('projection.enabled' = 'true', 'projection.retailer.type' = 'injected',
               'storage.location.template' = '${LAKE}/tables/images/retailer=${retailer}/');

CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.duplicates (
  sha256           string,
  group_id         string,
  canonical_sha256 string,
  distance         smallint
)
STORED AS PARQUET
LOCATION '${LAKE}/tables/duplicates/';

CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.items (
  item_id          string,
  group_id         string,
  canonical_sha256 string,
  image_key        string,
  title            string,
  offers           array<struct<retailer:string, product_id:string, url:string, price:double, currency:string>>,
  n_images         int
)
STORED AS PARQUET
LOCATION '${LAKE}/tables/items/';

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
TBLPROPERTIES ('projection.enabled' = 'true', 'projection.model_version.type' = 'injected',
               'storage.location.template' = '${LAKE}/tables/attributes/model_version=${model_version}/');

CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.embeddings (
  item_id       string,
  image_sha256  string,
  embedding     array<float>
)
PARTITIONED BY (model_version string)
STORED AS PARQUET
LOCATION '${LAKE}/tables/embeddings/'
TBLPROPERTIES ('projection.enabled' = 'true', 'projection.model_version.type' = 'injected',
               'storage.location.template' = '${LAKE}/tables/embeddings/model_version=${model_version}/');

CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.releases (
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
PARTITIONED BY (release_id string)
STORED AS PARQUET
LOCATION '${LAKE}/tables/releases/'
TBLPROPERTIES ('projection.enabled' = 'true', 'projection.release_id.type' = 'injected',
               'storage.location.template' = '${LAKE}/tables/releases/release_id=${release_id}/');

-- One row per crawl; `MSCK REPAIR TABLE ${DB}.crawl_stats` after a run to see it.
CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.crawl_stats (
  platform             string,
  started_at           timestamp,
  finished_at          timestamp,
  finish_reason        string,
  complete             boolean,
  requests             bigint,
  responses_by_status  map<string, bigint>,
  revalidated_304      bigint,
  response_bytes       bigint,
  retries              bigint,
  robots_forbidden     bigint,
  offsite_filtered     bigint,
  private_refused      bigint,
  products             bigint,
  products_unavailable bigint,
  invalid_items        bigint,
  invalid_reasons      map<string, bigint>,
  images_stored        bigint,
  images_new           bigint,
  images_known         bigint,
  images_rejected      bigint,
  rejected_reasons     map<string, bigint>,
  image_bytes_new      bigint,
  stats_json           string
)
PARTITIONED BY (retailer string, run_id string)
STORED AS PARQUET
LOCATION '${LAKE}/tables/crawl_stats/';

CREATE EXTERNAL TABLE IF NOT EXISTS ${DB}.invalid_products (
  product_id string,
  url        string,
  reason     string,
  run_id     string
)
PARTITIONED BY (retailer string)
STORED AS PARQUET
LOCATION '${LAKE}/tables/invalid_products/';
