-- What share of each retailer's shirts crawled this month are striped (production model)?
SELECT o.retailer,
       count(*) AS shirts,
       count(*) FILTER (WHERE a.pattern = 'striped') AS striped,
       round(count(*) FILTER (WHERE a.pattern = 'striped') / count(*), 4) AS striped_share
FROM offers AS o
JOIN current_attributes AS a USING (item_id)
JOIN products AS p ON p.retailer = o.retailer AND p.product_id = o.product_id
WHERE a.category = 'shirts' AND p.scraped_at >= date_trunc('month', current_date)
GROUP BY o.retailer
ORDER BY o.retailer;
