-- How did this item's price move, day by day and retailer by retailer? (SET VARIABLE item_id = '...')
SELECT h.day, h.retailer, h.price, h.list_price, h.currency, h.available
FROM product_history AS h
JOIN offers AS o ON o.retailer = h.retailer AND o.product_id = h.product_id
WHERE o.item_id = coalesce(getvariable('item_id'), (SELECT min(item_id) FROM items))
ORDER BY h.day, h.retailer;
