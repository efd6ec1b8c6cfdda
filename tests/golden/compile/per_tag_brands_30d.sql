SELECT
  user_id,
  COUNT(*) AS "brands_30d"
FROM (
  SELECT DISTINCT
    user_id,
    car_brand AS k
  FROM events
  WHERE
    (
      ts >= CAST('2026-10-02 00:00:00' AS TIMESTAMP)
      AND ts < CAST('2026-11-01 00:00:00' AS TIMESTAMP)
    )
    AND NOT car_brand IS NULL
) AS pairs
GROUP BY
  user_id
