-- Example analyst queries (after views.sql).

-- Products per retailer and how many are still available.
SELECT retailer, count(*) AS products, count(*) FILTER (WHERE available) AS available
FROM products GROUP BY retailer ORDER BY retailer;

-- Items sold by more than one retailer, with the price spread.
SELECT item_id, any_value(title) AS title, count(DISTINCT retailer) AS retailers,
       min(price) AS min_price, max(price) AS max_price
FROM offers GROUP BY item_id HAVING count(DISTINCT retailer) > 1 ORDER BY retailers DESC;

-- Color mix per category under one model version.
SELECT category, color, count(*) AS items
FROM attributes WHERE model_version = (SELECT max(model_version) FROM attributes)
GROUP BY ALL ORDER BY category, items DESC;

-- Images rejected by the scrapers, by reason.
SELECT retailer, reason, count(*) FROM images WHERE status = 'rejected' GROUP BY ALL;
