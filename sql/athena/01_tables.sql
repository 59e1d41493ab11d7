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
  pattern_confidence  float
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
