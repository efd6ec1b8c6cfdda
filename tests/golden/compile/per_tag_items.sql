SELECT
  user_id,
  ARRAY_AGG(v ORDER BY rn) AS "items"
FROM (
  SELECT
    user_id,
    v,
    ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY last_ts DESC, n DESC, v) AS rn
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
        CAST(UNNEST(items) AS TEXT) AS v
      FROM orders
      WHERE
        ts < CAST('2026-11-01 00:00:00' AS TIMESTAMP) AND NOT items IS NULL
    )
    WHERE
      NOT v IS NULL
    GROUP BY
      user_id,
      v
    HAVING
      COUNT(*) >= 1
  )
)
WHERE
  rn <= 2
GROUP BY
  user_id
