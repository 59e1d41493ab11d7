-- Which retailers' latest crawl (last night) degraded against the day before (fewer products, errors, incomplete)?
WITH runs AS (
  SELECT *, row_number() OVER (PARTITION BY retailer ORDER BY day DESC) AS n
  FROM crawl_stats
)
SELECT now.retailer, now.day, now.run_id,
       prev.products_available AS products_before, now.products_available AS products_now,
       now.invalid_items, now.images_rejected, now.retries, now.complete,
       now.products_available < prev.products_available OR NOT now.complete
         OR now.invalid_items > prev.invalid_items OR now.images_rejected > prev.images_rejected AS degraded
FROM runs AS now
LEFT JOIN runs AS prev ON prev.retailer = now.retailer AND prev.n = 2
WHERE now.n = 1
ORDER BY degraded DESC, now.retailer;
