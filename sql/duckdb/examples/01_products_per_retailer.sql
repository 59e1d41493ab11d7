-- How many products does each retailer list, and how many are available now?
SELECT retailer, count(*) AS products, count(*) FILTER (WHERE available) AS available
FROM products
GROUP BY retailer
ORDER BY retailer;
