SELECT
  u.user_id,
  CAST(COALESCE("a"."searches_7d", 0) AS BIGINT) AS "searches_7d"
FROM users AS u
LEFT JOIN (
  SELECT
    user_id,
    COUNT(*) FILTER(WHERE
      event = 'search') AS "searches_7d"
  FROM events
  WHERE
    ts >= CAST('2026-10-25 00:00:00' AS TIMESTAMP)
    AND ts < CAST('2026-11-01 00:00:00' AS TIMESTAMP)
  GROUP BY
    user_id
) AS a
  USING (user_id)
