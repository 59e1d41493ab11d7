-- One row per (item, retailer offer).
CREATE OR REPLACE VIEW ${DB}.offers AS
SELECT i.item_id, i.title, o.retailer, o.product_id, o.url, o.price, o.currency
FROM ${DB}.items AS i
CROSS JOIN UNNEST(i.offers) AS t(o);
