-- Who sells this item, and at what price? (SET VARIABLE item_id = '...'; default: the first item)
SELECT o.retailer, o.product_id, o.price, o.currency, o.url
FROM offers AS o
WHERE o.item_id = coalesce(getvariable('item_id'), (SELECT min(item_id) FROM items))
ORDER BY o.price, o.retailer;
