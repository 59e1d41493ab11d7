-- Which items are sold by more than one retailer, and how far apart are their prices?
SELECT item_id, any_value(title) AS title, count(DISTINCT retailer) AS retailers,
       min(price) AS min_price, max(price) AS max_price, max(price) - min(price) AS spread
FROM offers
GROUP BY item_id
HAVING count(DISTINCT retailer) > 1
ORDER BY spread DESC, item_id;
