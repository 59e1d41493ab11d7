-- DuckDB views over the Vitrine lake. Set the lake root first, then run this file:
--   SET VARIABLE lake = '/path/to/.vitrine/lake';   -- a local path (file:// lake)
--   .read sql/duckdb/views.sql
-- (`vitrine sql` does both and opens a shell-like prompt.) Each statement is one view;
-- a view whose table has no files yet is skipped by `vitrine sql`.

-- view: products
CREATE OR REPLACE VIEW products AS
SELECT * FROM read_parquet(getvariable('lake') || '/tables/products/*/*.parquet',
                           hive_partitioning = true, union_by_name = true);

-- view: images
CREATE OR REPLACE VIEW images AS
SELECT * FROM read_parquet(getvariable('lake') || '/tables/images/*/*.parquet',
                           hive_partitioning = true, union_by_name = true);

-- view: duplicates
CREATE OR REPLACE VIEW duplicates AS
SELECT * FROM read_parquet(getvariable('lake') || '/tables/duplicates/*.parquet');

-- view: items
CREATE OR REPLACE VIEW items AS
SELECT * FROM read_parquet(getvariable('lake') || '/tables/items/*.parquet');

-- view: attributes
CREATE OR REPLACE VIEW attributes AS
SELECT * FROM read_parquet(getvariable('lake') || '/tables/attributes/*/*.parquet',
                           hive_partitioning = true, union_by_name = true);

-- view: embeddings
CREATE OR REPLACE VIEW embeddings AS
SELECT * FROM read_parquet(getvariable('lake') || '/tables/embeddings/*/*.parquet',
                           hive_partitioning = true, union_by_name = true);

-- view: releases
CREATE OR REPLACE VIEW releases AS
SELECT * FROM read_parquet(getvariable('lake') || '/tables/releases/**/*.parquet',
                           hive_partitioning = true, union_by_name = true);

-- view: crawl_stats
CREATE OR REPLACE VIEW crawl_stats AS
SELECT * FROM read_parquet(getvariable('lake') || '/tables/crawl_stats/*/*/*.parquet',
                           hive_partitioning = true, union_by_name = true);

-- view: invalid_products
CREATE OR REPLACE VIEW invalid_products AS
SELECT * FROM read_parquet(getvariable('lake') || '/tables/invalid_products/*/*.parquet',
                           hive_partitioning = true, union_by_name = true);

-- view: offers
-- One row per (item, retailer offer): the shape most price and coverage questions want.
CREATE OR REPLACE VIEW offers AS
SELECT i.item_id, i.title, o.retailer, o.product_id, o.url, o.price, o.currency
FROM items AS i, UNNEST(i.offers) AS u(o);
