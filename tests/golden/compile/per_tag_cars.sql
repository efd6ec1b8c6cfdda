SELECT
  user_id,
  ARRAY_AGG(v ORDER BY rn) AS "cars"
FROM (
  SELECT
    user_id,
    v,
    ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY n DESC, last_ts DESC, v) AS rn
  FROM (
    SELECT
      user_id,
      v,
      COUNT(*) AS n,
      MAX(ts) AS last_ts
    FROM (
      SELECT
        user_id,
        ts,
        CAST(car_brand AS TEXT) AS v
      FROM events
      WHERE
        (
          ts >= CAST('2026-05-05 00:00:00' AS TIMESTAMP)
          AND ts < CAST('2026-11-01 00:00:00' AS TIMESTAMP)
        )
        AND NOT car_brand IS NULL
    )
    WHERE
      TRUE
    GROUP BY
      user_id,
      v
    HAVING
      COUNT(*) >= 1
  )
)
WHERE
  rn <= 3
GROUP BY
  user_id
