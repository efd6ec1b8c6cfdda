SELECT
  user_id,
  ARRAY_AGG(v ORDER BY rn) AS "daypart"
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
        CAST(CASE
          WHEN HOUR(ts + INTERVAL '28800' SECOND) < 6
          THEN '凌晨'
          WHEN HOUR(ts + INTERVAL '28800' SECOND) < 11
          THEN '早上'
          WHEN HOUR(ts + INTERVAL '28800' SECOND) < 13
          THEN '中午'
          WHEN HOUR(ts + INTERVAL '28800' SECOND) < 19
          THEN '下午'
          ELSE '晚上'
        END AS TEXT) AS v
      FROM events
      WHERE
        ts >= CAST('2026-08-03 00:00:00' AS TIMESTAMP)
        AND ts < CAST('2026-11-01 00:00:00' AS TIMESTAMP)
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
  rn <= 1
GROUP BY
  user_id
