SELECT
  user_id,
  COUNT(*) AS "active_days_90d"
FROM (
  SELECT DISTINCT
    user_id,
    CAST(ts AS DATE) AS k
  FROM events
  WHERE
    ts >= CAST('2026-08-03 00:00:00' AS TIMESTAMP)
    AND ts < CAST('2026-11-01 00:00:00' AS TIMESTAMP)
) AS pairs
GROUP BY
  user_id
