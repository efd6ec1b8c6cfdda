SELECT
  user_id,
  COUNT(*) FILTER(WHERE
    (
      ts >= CAST('2026-10-25 00:00:00' AS TIMESTAMP)
      AND ts < CAST('2026-11-01 00:00:00' AS TIMESTAMP)
    )
    AND event = 'search') AS "searches_7d",
  COUNT(*) FILTER(WHERE
    (
      ts >= CAST('2026-10-02 00:00:00' AS TIMESTAMP)
      AND ts < CAST('2026-11-01 00:00:00' AS TIMESTAMP)
    )
    AND (
      business_line = 'used_car'
      AND car_price >= 30
      AND NOT car_brand IN ('大众', 'O''Neil')
    )) AS "luxury_views_30d",
  DATE_DIFF('DAY', CAST(MAX(ts) AS DATE), CAST('2026-10-31' AS DATE)) AS "days_since_active"
FROM events
WHERE
  ts < CAST('2026-11-01 00:00:00' AS TIMESTAMP)
GROUP BY
  user_id
