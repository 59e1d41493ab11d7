-- Which products changed price between the two latest crawl days?
WITH days AS (SELECT DISTINCT day FROM product_history ORDER BY day DESC LIMIT 2),
     latest AS (SELECT * FROM product_history WHERE day = (SELECT max(day) FROM days)),
     previous AS (SELECT * FROM product_history WHERE day = (SELECT min(day) FROM days) AND day < (SELECT max(day) FROM days))
SELECT l.retailer, l.product_id, l.title, p.price AS price_before, l.price AS price_now,
       round((l.price - p.price) / p.price, 4) AS change
FROM latest AS l JOIN previous AS p USING (retailer, product_id)
WHERE l.price IS DISTINCT FROM p.price
ORDER BY l.retailer, l.product_id;
