-- What is the color mix of each category, as the production model sees the catalog?
SELECT category, color, count(*) AS items
FROM current_attributes
GROUP BY ALL
ORDER BY category, items DESC, color;
