-- How did the data-quality checks of the latest checked run come out?
SELECT check_name, subject, passed, value, threshold, message
FROM dq_results
WHERE run_id = (SELECT arg_max(run_id, checked_at) FROM dq_results)
ORDER BY passed, check_name, subject;
