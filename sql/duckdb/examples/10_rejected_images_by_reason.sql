-- Why were images rejected, per retailer and reason code?
SELECT retailer, reason, count(*) AS images, any_value(detail) AS example
FROM images
WHERE status = 'rejected'
GROUP BY ALL
ORDER BY retailer, images DESC, reason;
