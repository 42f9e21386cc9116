SELECT count(*) FILTER (WHERE NOT ("qty" >= 0))
FROM "sales"."orders"
WHERE NOT (("qty" >= 0));
SELECT "id", "qty"
FROM "sales"."orders"
WHERE NOT ("qty" >= 0)
ORDER BY "id"
LIMIT 5;
WITH dup AS MATERIALIZED (
  SELECT "code", count(*) AS n
  FROM "sales"."orders"
  WHERE "code" IS NOT NULL
  GROUP BY "code"
  HAVING count(*) > 1),
summary AS (SELECT count(*) AS groups, CAST(coalesce(sum(n - 1), 0) AS bigint) AS surplus FROM dup),
cc_sample AS MATERIALIZED (SELECT "code", n FROM dup ORDER BY "code" LIMIT 5),
cc_ids AS (SELECT "code", string_agg(("id")::text, ',' ORDER BY "id") AS ids FROM "sales"."orders" WHERE "code" IS NOT NULL AND ("code") IN (SELECT "code" FROM cc_sample) GROUP BY "code")
SELECT summary.groups, summary.surplus, cc_sample.n, cc_ids.ids, cc_sample."code"
FROM summary LEFT JOIN cc_sample ON true LEFT JOIN cc_ids ON cc_ids."code" = cc_sample."code"
ORDER BY cc_sample."code";
CREATE UNIQUE INDEX CONCURRENTLY "sales_orders_code_key" ON "sales"."orders" ("code");
