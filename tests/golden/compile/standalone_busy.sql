SELECT
  user_id,
  CAST(searches_7d + active_days_90d > 3 AS BOOLEAN) AS "busy"
FROM profile
