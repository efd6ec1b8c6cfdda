SELECT
  user_id,
  SUM(amount) AS "spend_365d"
FROM orders
WHERE
  ts >= CAST('2025-11-01 00:00:00' AS TIMESTAMP)
  AND ts < CAST('2026-11-01 00:00:00' AS TIMESTAMP)
GROUP BY
  user_id
