-- Which black dresses appeared for the first time since Monday, and where?
WITH first_seen AS (
  SELECT retailer, product_id, min(day) AS first_day FROM product_history GROUP BY ALL
)
SELECT o.item_id, o.title, o.retailer, o.price, o.currency, f.first_day
FROM offers AS o
JOIN current_attributes AS a USING (item_id)
JOIN first_seen AS f ON f.retailer = o.retailer AND f.product_id = o.product_id
WHERE a.category = 'dresses' AND a.color = 'black'
  AND f.first_day >= date_trunc('week', current_date)
ORDER BY f.first_day DESC, o.item_id, o.retailer;
