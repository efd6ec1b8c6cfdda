SELECT
  uid,
  user_id,
  city AS "city",
  CASE
    WHEN age IS NULL
    THEN NULL
    WHEN age < 20.0
    THEN '<20'
    WHEN age < 30.0
    THEN '20-30'
    WHEN age < 40.0
    THEN '30-40'
    ELSE '40+'
  END AS "age_band"
FROM users
