SELECT
  uid,
  user_id,
  "city",
  "age_band",
  "searches_7d",
  "luxury_views_30d",
  "active_days_90d",
  "brands_30d",
  "days_since_active",
  "spend_365d",
  "cars",
  "items",
  "daypart",
  "busy",
  "spend_band"
FROM (
  SELECT
    *,
    CAST(searches_7d + active_days_90d > 3 AS BOOLEAN) AS "busy",
    CASE
      WHEN "spend_365d" IS NULL
      THEN NULL
      WHEN "spend_365d" < 1.0
      THEN '<1'
      WHEN "spend_365d" < 1000.0
      THEN '1-1000'
      ELSE '1000+'
    END AS "spend_band"
  FROM (
    SELECT
      u.uid,
      u.user_id,
      CAST("u"."city" AS TEXT) AS "city",
      CAST("u"."age_band" AS TEXT) AS "age_band",
      CAST(COALESCE("a0"."searches_7d", 0) AS BIGINT) AS "searches_7d",
      CAST(COALESCE("a0"."luxury_views_30d", 0) AS BIGINT) AS "luxury_views_30d",
      CAST("a0"."days_since_active" AS BIGINT) AS "days_since_active",
      CAST(COALESCE("a1"."spend_365d", 0) AS DOUBLE) AS "spend_365d",
      CAST(COALESCE("p0"."active_days_90d", 0) AS BIGINT) AS "active_days_90d",
      CAST(COALESCE("p1"."brands_30d", 0) AS BIGINT) AS "brands_30d",
      CAST("p2"."cars" AS TEXT[]) AS "cars",
      CAST("p3"."items" AS TEXT[]) AS "items",
      CAST("p4"."daypart" AS TEXT[]) AS "daypart"
    FROM t_users AS u
    LEFT JOIN t_agg_events AS a0
      USING (user_id)
    LEFT JOIN t_agg_orders AS a1
      USING (user_id)
    LEFT JOIN t_tag_active_days_90d AS p0
      USING (user_id)
    LEFT JOIN t_tag_brands_30d AS p1
      USING (user_id)
    LEFT JOIN t_tag_cars AS p2
      USING (user_id)
    LEFT JOIN t_tag_items AS p3
      USING (user_id)
    LEFT JOIN t_tag_daypart AS p4
      USING (user_id)
  ) AS t
) AS p
ORDER BY
  uid NULLS FIRST
