-- DuckDB views over a Vitrine lake, generated from pipeline/schemas.py (vitrine sql --write-sql).
-- Set the lake root first, then read this file:
--   SET VARIABLE lake = '/path/to/.vitrine/lake';   -- or 's3://bucket/prefix' (see README)
--   .read sql/duckdb/views.sql
-- `vitrine sql` does both, for file:// and s3:// lakes.

-- view: products
-- Current state of every product of a retailer, rewritten by each crawl; products no longer listed stay with available = false.
CREATE OR REPLACE VIEW products AS
SELECT CAST(product_id AS VARCHAR) AS product_id,
       CAST(title AS VARCHAR) AS title,
       CAST(brand AS VARCHAR) AS brand,
       CAST(price AS DECIMAL(18,4)) AS price,
       CAST(list_price AS DECIMAL(18,4)) AS list_price,
       CAST(currency AS VARCHAR) AS currency,
       CAST(availability AS VARCHAR) AS availability,
       CAST(price_valid_until AS DATE) AS price_valid_until,
       CAST(sku AS VARCHAR) AS sku,
       CAST(gtin AS VARCHAR) AS gtin,
       CAST(mpn AS VARCHAR) AS mpn,
       CAST(category_path AS VARCHAR[]) AS category_path,
       CAST(product_type AS VARCHAR) AS product_type,
       CAST(tags AS VARCHAR[]) AS tags,
       CAST(color AS VARCHAR) AS color,
       CAST(pattern AS VARCHAR) AS pattern,
       CAST(material AS VARCHAR) AS material,
       CAST(description AS VARCHAR) AS description,
       CAST(image_urls AS VARCHAR[]) AS image_urls,
       CAST(url AS VARCHAR) AS url,
       CAST(scraped_at AS TIMESTAMP WITH TIME ZONE) AS scraped_at,
       CAST(available AS BOOLEAN) AS available,
       CAST(retailer AS VARCHAR) AS retailer
FROM read_parquet(getvariable('lake') || '/tables/products/*/*.parquet', hive_partitioning = true, hive_types = {'retailer': 'VARCHAR'}, union_by_name = true);

-- view: product_history
-- One row per product per crawl day: price, list price and availability as seen that day.
CREATE OR REPLACE VIEW product_history AS
SELECT CAST(retailer AS VARCHAR) AS retailer,
       CAST(product_id AS VARCHAR) AS product_id,
       CAST(title AS VARCHAR) AS title,
       CAST(price AS DECIMAL(18,4)) AS price,
       CAST(list_price AS DECIMAL(18,4)) AS list_price,
       CAST(currency AS VARCHAR) AS currency,
       CAST(availability AS VARCHAR) AS availability,
       CAST(available AS BOOLEAN) AS available,
       CAST(scraped_at AS TIMESTAMP WITH TIME ZONE) AS scraped_at,
       CAST(day AS DATE) AS day
FROM read_parquet(getvariable('lake') || '/tables/product_history/*/*.parquet', hive_partitioning = true, hive_types = {'day': 'DATE'}, union_by_name = true);

-- view: images
-- Every image URL of every current product, stored (content-addressed) or rejected with a reason.
CREATE OR REPLACE VIEW images AS
SELECT CAST(url AS VARCHAR) AS url,
       CAST(sha256 AS VARCHAR) AS sha256,
       CAST(product_id AS VARCHAR) AS product_id,
       CAST(image_key AS VARCHAR) AS image_key,
       CAST(width AS INTEGER) AS width,
       CAST(height AS INTEGER) AS height,
       CAST(format AS VARCHAR) AS format,
       CAST(bytes AS BIGINT) AS bytes,
       CAST(status AS VARCHAR) AS status,
       CAST(reason AS VARCHAR) AS reason,
       CAST(detail AS VARCHAR) AS detail,
       CAST(position AS INTEGER) AS position,
       CAST(retailer AS VARCHAR) AS retailer
FROM read_parquet(getvariable('lake') || '/tables/images/*/*.parquet', hive_partitioning = true, hive_types = {'retailer': 'VARCHAR'}, union_by_name = true);

-- view: invalid_products
-- Products of the last crawl that broke the item schema and were dropped.
CREATE OR REPLACE VIEW invalid_products AS
SELECT CAST(product_id AS VARCHAR) AS product_id,
       CAST(url AS VARCHAR) AS url,
       CAST(reason AS VARCHAR) AS reason,
       CAST(detail AS VARCHAR) AS detail,
       CAST(run_id AS VARCHAR) AS run_id,
       CAST(retailer AS VARCHAR) AS retailer
FROM read_parquet(getvariable('lake') || '/tables/invalid_products/*/*.parquet', hive_partitioning = true, hive_types = {'retailer': 'VARCHAR'}, union_by_name = true);

-- view: crawl_stats
-- One row per retailer per crawl day (file part-<day>; a re-run that day replaces it): requests, responses, products and images.
CREATE OR REPLACE VIEW crawl_stats AS
SELECT CAST(day AS DATE) AS day,
       CAST(run_id AS VARCHAR) AS run_id,
       CAST(platform AS VARCHAR) AS platform,
       CAST(started_at AS TIMESTAMP WITH TIME ZONE) AS started_at,
       CAST(finished_at AS TIMESTAMP WITH TIME ZONE) AS finished_at,
       CAST(finish_reason AS VARCHAR) AS finish_reason,
       CAST(complete AS BOOLEAN) AS complete,
       CAST(requests AS BIGINT) AS requests,
       CAST(responses_by_status AS MAP(VARCHAR, BIGINT)) AS responses_by_status,
       CAST(revalidated_304 AS BIGINT) AS revalidated_304,
       CAST(response_bytes AS BIGINT) AS response_bytes,
       CAST(retries AS BIGINT) AS retries,
       CAST(robots_forbidden AS BIGINT) AS robots_forbidden,
       CAST(offsite_filtered AS BIGINT) AS offsite_filtered,
       CAST(private_refused AS BIGINT) AS private_refused,
       CAST(products AS BIGINT) AS products,
       CAST(products_unavailable AS BIGINT) AS products_unavailable,
       CAST(products_available AS BIGINT) AS products_available,
       CAST(price_median AS DECIMAL(18,4)) AS price_median,
       CAST(invalid_items AS BIGINT) AS invalid_items,
       CAST(invalid_reasons AS MAP(VARCHAR, BIGINT)) AS invalid_reasons,
       CAST(images_stored AS BIGINT) AS images_stored,
       CAST(images_new AS BIGINT) AS images_new,
       CAST(images_known AS BIGINT) AS images_known,
       CAST(images_rejected AS BIGINT) AS images_rejected,
       CAST(rejected_reasons AS MAP(VARCHAR, BIGINT)) AS rejected_reasons,
       CAST(image_bytes_new AS BIGINT) AS image_bytes_new,
       CAST(stats_json AS VARCHAR) AS stats_json,
       CAST(retailer AS VARCHAR) AS retailer
FROM read_parquet(getvariable('lake') || '/tables/crawl_stats/*/*.parquet', hive_partitioning = true, hive_types = {'retailer': 'VARCHAR'}, union_by_name = true);

-- view: duplicates
-- Every stored image with its near-duplicate group and the group's canonical image.
CREATE OR REPLACE VIEW duplicates AS
SELECT CAST(sha256 AS VARCHAR) AS sha256,
       CAST(group_id AS VARCHAR) AS group_id,
       CAST(canonical_sha256 AS VARCHAR) AS canonical_sha256,
       CAST(distance AS SMALLINT) AS distance
FROM read_parquet(getvariable('lake') || '/tables/duplicates/*.parquet', union_by_name = true);

-- view: items
-- One row per item: a deduplicated product image group, with every retailer offer showing it.
CREATE OR REPLACE VIEW items AS
SELECT CAST(item_id AS VARCHAR) AS item_id,
       CAST(group_id AS VARCHAR) AS group_id,
       CAST(canonical_sha256 AS VARCHAR) AS canonical_sha256,
       CAST(image_key AS VARCHAR) AS image_key,
       CAST(title AS VARCHAR) AS title,
       CAST(offers AS STRUCT(retailer VARCHAR, product_id VARCHAR, url VARCHAR, price DECIMAL(18,4), currency VARCHAR, gtin VARCHAR)[]) AS offers,
       CAST(n_images AS INTEGER) AS n_images
FROM read_parquet(getvariable('lake') || '/tables/items/*.parquet', union_by_name = true);

-- view: embeddings
-- The embedding of every canonical image, per model version (written in shards).
CREATE OR REPLACE VIEW embeddings AS
SELECT CAST(item_id AS VARCHAR) AS item_id,
       CAST(image_sha256 AS VARCHAR) AS image_sha256,
       CAST(embedding AS FLOAT[]) AS embedding,
       CAST(model_version AS VARCHAR) AS model_version
FROM read_parquet(getvariable('lake') || '/tables/embeddings/*/*.parquet', hive_partitioning = true, hive_types = {'model_version': 'VARCHAR'}, union_by_name = true);

-- view: embedding_rejects
-- Canonical images that could not be read or decoded for embedding, per model version.
CREATE OR REPLACE VIEW embedding_rejects AS
SELECT CAST(item_id AS VARCHAR) AS item_id,
       CAST(image_sha256 AS VARCHAR) AS image_sha256,
       CAST(reason AS VARCHAR) AS reason,
       CAST(detail AS VARCHAR) AS detail,
       CAST(model_version AS VARCHAR) AS model_version
FROM read_parquet(getvariable('lake') || '/tables/embedding_rejects/*/*.parquet', hive_partitioning = true, hive_types = {'model_version': 'VARCHAR'}, union_by_name = true);

-- view: releases
-- One row per publishing run: the release it published (README: The release). A DAG run's row is filed under its DAG and logical date, so a re-run of that date replaces it (the earlier release stays until retention removes it).
CREATE OR REPLACE VIEW releases AS
SELECT CAST(release_id AS VARCHAR) AS release_id,
       CAST(created_at AS TIMESTAMP WITH TIME ZONE) AS created_at,
       CAST(run_id AS VARCHAR) AS run_id,
       CAST(model_version AS VARCHAR) AS model_version,
       CAST(n_items AS BIGINT) AS n_items,
       CAST(dim AS INTEGER) AS dim,
       CAST(metric AS VARCHAR) AS metric,
       CAST(n_trees AS INTEGER) AS n_trees,
       CAST(search_k AS BIGINT) AS search_k,
       CAST(recall_at_10 AS DOUBLE) AS recall_at_10,
       CAST(bytes AS BIGINT) AS bytes,
       CAST(manifest AS VARCHAR) AS manifest
FROM read_parquet(getvariable('lake') || '/tables/releases/*.parquet', union_by_name = true);

-- view: models
-- One row per registered attribute model, with its metrics and whether it was promoted.
CREATE OR REPLACE VIEW models AS
SELECT CAST(model_version AS VARCHAR) AS model_version,
       CAST(created_at AS TIMESTAMP WITH TIME ZONE) AS created_at,
       CAST(backbone AS VARCHAR) AS backbone,
       CAST(image_size AS INTEGER) AS image_size,
       CAST(embedding_dim AS INTEGER) AS embedding_dim,
       CAST(attributes AS VARCHAR[]) AS attributes,
       CAST(trained AS BOOLEAN) AS trained,
       CAST(mean_accuracy AS DOUBLE) AS mean_accuracy,
       CAST(metrics_json AS VARCHAR) AS metrics_json,
       CAST(promoted AS BOOLEAN) AS promoted,
       CAST(promoted_at AS TIMESTAMP WITH TIME ZONE) AS promoted_at,
       CAST(is_production AS BOOLEAN) AS is_production
FROM read_parquet(getvariable('lake') || '/tables/models/*.parquet', union_by_name = true);

-- view: dq_results
-- One row per data-quality check per subject per run; a DAG run's rows are filed under its DAG and logical date, so a re-run of that date replaces them.
CREATE OR REPLACE VIEW dq_results AS
SELECT CAST(run_id AS VARCHAR) AS run_id,
       CAST(check_name AS VARCHAR) AS check_name,
       CAST(subject AS VARCHAR) AS subject,
       CAST(passed AS BOOLEAN) AS passed,
       CAST(value AS DOUBLE) AS value,
       CAST(threshold AS DOUBLE) AS threshold,
       CAST(message AS VARCHAR) AS message,
       CAST(checked_at AS TIMESTAMP WITH TIME ZONE) AS checked_at
FROM read_parquet(getvariable('lake') || '/tables/dq_results/*.parquet', union_by_name = true);

-- view: attributes
-- Predicted attributes of every item, one row per item and model version.
CREATE OR REPLACE VIEW attributes AS
SELECT CAST(item_id AS VARCHAR) AS item_id,
       CAST(image_sha256 AS VARCHAR) AS image_sha256,
       CAST(category AS VARCHAR) AS category,
       CAST(category_confidence AS FLOAT) AS category_confidence,
       CAST(color AS VARCHAR) AS color,
       CAST(color_confidence AS FLOAT) AS color_confidence,
       CAST(pattern AS VARCHAR) AS pattern,
       CAST(pattern_confidence AS FLOAT) AS pattern_confidence,
       CAST(gender AS VARCHAR) AS gender,
       CAST(gender_confidence AS FLOAT) AS gender_confidence,
       CAST(usage AS VARCHAR) AS usage,
       CAST(usage_confidence AS FLOAT) AS usage_confidence,
       CAST(model_version AS VARCHAR) AS model_version
FROM read_parquet(getvariable('lake') || '/tables/attributes/*/*.parquet', hive_partitioning = true, hive_types = {'model_version': 'VARCHAR'}, union_by_name = true);

-- view: offers
-- One row per (item, retailer offer): the items table's offers unnested.
CREATE OR REPLACE VIEW offers AS
SELECT i.item_id, i.title, o.retailer, o.product_id, o.url, o.price, o.currency FROM items AS i CROSS JOIN UNNEST(i.offers) AS t(o);

-- view: current_attributes
-- Attributes predicted by the production model (models.is_production), one row per item.
CREATE OR REPLACE VIEW current_attributes AS
SELECT a.item_id, a.image_sha256, a.category, a.category_confidence, a.color, a.color_confidence, a.pattern, a.pattern_confidence, a.gender, a.gender_confidence, a.usage, a.usage_confidence, a.model_version FROM attributes AS a JOIN models AS m ON m.model_version = a.model_version AND m.is_production;
