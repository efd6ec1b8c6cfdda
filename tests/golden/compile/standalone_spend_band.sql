SELECT
  user_id,
  CASE
    WHEN "spend_365d" IS NULL
    THEN NULL
    WHEN "spend_365d" < 1.0
    THEN '<1'
    WHEN "spend_365d" < 1000.0
    THEN '1-1000'
    ELSE '1000+'
  END AS "spend_band"
FROM profile
