-- Which attribute models exist, how good are they, and which one is in production?
SELECT model_version, created_at, backbone, trained, mean_accuracy, promoted, promoted_at, is_production
FROM models
ORDER BY created_at, model_version;
