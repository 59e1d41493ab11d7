-- Which releases were published, with which model, how many items and what recall?
SELECT r.release_id, r.created_at, r.model_version, m.trained, r.n_items, r.recall_at_10
FROM releases AS r LEFT JOIN models AS m USING (model_version)
ORDER BY r.release_id;
