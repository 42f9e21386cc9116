-- ability_blocks: counts
SELECT coalesce(sum((NOT ("alertness" BETWEEN 0 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("athletics" BETWEEN 0 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("brawl" BETWEEN 0 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("empathy" BETWEEN 0 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("expression" BETWEEN 0 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("intimidation" BETWEEN 0 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("streetwise" BETWEEN 0 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("subterfuge" BETWEEN 0 AND 10)) IS TRUE), 0)
FROM "ability_blocks"
WHERE NOT (("alertness" BETWEEN 0 AND 10)
   AND ("athletics" BETWEEN 0 AND 10)
   AND ("brawl" BETWEEN 0 AND 10)
   AND ("empathy" BETWEEN 0 AND 10)
   AND ("expression" BETWEEN 0 AND 10)
   AND ("intimidation" BETWEEN 0 AND 10)
   AND ("streetwise" BETWEEN 0 AND 10)
   AND ("subterfuge" BETWEEN 0 AND 10));
-- ability_blocks_alertness_range: samples
SELECT "id", "alertness"
FROM "ability_blocks"
WHERE NOT ("alertness" BETWEEN 0 AND 10)
ORDER BY "id"
LIMIT 5;
-- ability_blocks_athletics_range: samples
SELECT "id", "athletics"
FROM "ability_blocks"
WHERE NOT ("athletics" BETWEEN 0 AND 10)
ORDER BY "id"
LIMIT 5;
-- ability_blocks_brawl_range: samples
SELECT "id", "brawl"
FROM "ability_blocks"
WHERE NOT ("brawl" BETWEEN 0 AND 10)
ORDER BY "id"
LIMIT 5;
-- ability_blocks_empathy_range: samples
SELECT "id", "empathy"
FROM "ability_blocks"
WHERE NOT ("empathy" BETWEEN 0 AND 10)
ORDER BY "id"
LIMIT 5;
-- ability_blocks_expression_range: samples
SELECT "id", "expression"
FROM "ability_blocks"
WHERE NOT ("expression" BETWEEN 0 AND 10)
ORDER BY "id"
LIMIT 5;
-- ability_blocks_intimidation_range: samples
SELECT "id", "intimidation"
FROM "ability_blocks"
WHERE NOT ("intimidation" BETWEEN 0 AND 10)
ORDER BY "id"
LIMIT 5;
-- ability_blocks_streetwise_range: samples
SELECT "id", "streetwise"
FROM "ability_blocks"
WHERE NOT ("streetwise" BETWEEN 0 AND 10)
ORDER BY "id"
LIMIT 5;
-- ability_blocks_subterfuge_range: samples
SELECT "id", "subterfuge"
FROM "ability_blocks"
WHERE NOT ("subterfuge" BETWEEN 0 AND 10)
ORDER BY "id"
LIMIT 5;
-- attribute_blocks: counts
SELECT coalesce(sum((NOT ("strength" BETWEEN 1 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("dexterity" BETWEEN 1 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("stamina" BETWEEN 1 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("charisma" BETWEEN 1 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("manipulation" BETWEEN 1 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("appearance" BETWEEN 1 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("perception" BETWEEN 1 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("intelligence" BETWEEN 1 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("wits" BETWEEN 1 AND 10)) IS TRUE), 0)
FROM "attribute_blocks"
WHERE NOT (("strength" BETWEEN 1 AND 10)
   AND ("dexterity" BETWEEN 1 AND 10)
   AND ("stamina" BETWEEN 1 AND 10)
   AND ("charisma" BETWEEN 1 AND 10)
   AND ("manipulation" BETWEEN 1 AND 10)
   AND ("appearance" BETWEEN 1 AND 10)
   AND ("perception" BETWEEN 1 AND 10)
   AND ("intelligence" BETWEEN 1 AND 10)
   AND ("wits" BETWEEN 1 AND 10));
-- attribute_blocks_strength_range: samples
SELECT "id", "strength"
FROM "attribute_blocks"
WHERE NOT ("strength" BETWEEN 1 AND 10)
ORDER BY "id"
LIMIT 5;
-- attribute_blocks_dexterity_range: samples
SELECT "id", "dexterity"
FROM "attribute_blocks"
WHERE NOT ("dexterity" BETWEEN 1 AND 10)
ORDER BY "id"
LIMIT 5;
-- attribute_blocks_stamina_range: samples
SELECT "id", "stamina"
FROM "attribute_blocks"
WHERE NOT ("stamina" BETWEEN 1 AND 10)
ORDER BY "id"
LIMIT 5;
-- attribute_blocks_charisma_range: samples
SELECT "id", "charisma"
FROM "attribute_blocks"
WHERE NOT ("charisma" BETWEEN 1 AND 10)
ORDER BY "id"
LIMIT 5;
-- attribute_blocks_manipulation_range: samples
SELECT "id", "manipulation"
FROM "attribute_blocks"
WHERE NOT ("manipulation" BETWEEN 1 AND 10)
ORDER BY "id"
LIMIT 5;
-- attribute_blocks_appearance_range: samples
SELECT "id", "appearance"
FROM "attribute_blocks"
WHERE NOT ("appearance" BETWEEN 1 AND 10)
ORDER BY "id"
LIMIT 5;
-- attribute_blocks_perception_range: samples
SELECT "id", "perception"
FROM "attribute_blocks"
WHERE NOT ("perception" BETWEEN 1 AND 10)
ORDER BY "id"
LIMIT 5;
-- attribute_blocks_intelligence_range: samples
SELECT "id", "intelligence"
FROM "attribute_blocks"
WHERE NOT ("intelligence" BETWEEN 1 AND 10)
ORDER BY "id"
LIMIT 5;
-- attribute_blocks_wits_range: samples
SELECT "id", "wits"
FROM "attribute_blocks"
WHERE NOT ("wits" BETWEEN 1 AND 10)
ORDER BY "id"
LIMIT 5;
-- characters: counts
SELECT coalesce(sum((NOT ("xp" >= 0)) IS TRUE), 0),
       coalesce(sum((NOT ("status" IN ('Un', 'Sub', 'App', 'Ret', 'Dec'))) IS TRUE), 0)
FROM "characters"
WHERE NOT (("xp" >= 0)
   AND ("status" IN ('Un', 'Sub', 'App', 'Ret', 'Dec')));
-- characters_xp_nonnegative: samples
SELECT "id", "xp"
FROM "characters"
WHERE NOT ("xp" >= 0)
ORDER BY "id"
LIMIT 5;
-- characters_status_valid: samples
SELECT "id", "status"
FROM "characters"
WHERE NOT ("status" IN ('Un', 'Sub', 'App', 'Ret', 'Dec'))
ORDER BY "id"
LIMIT 5;
-- humans: counts
SELECT coalesce(sum((NOT ("willpower" BETWEEN 1 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ("temporary_willpower" BETWEEN 0 AND 10)) IS TRUE), 0),
       coalesce(sum((NOT ((temporary_willpower <= willpower))) IS TRUE), 0),
       coalesce(sum((NOT ("age" BETWEEN 0 AND 500)) IS TRUE), 0),
       coalesce(sum((NOT ("apparent_age" BETWEEN 0 AND 200)) IS TRUE), 0)
FROM "humans"
WHERE NOT (("willpower" BETWEEN 1 AND 10)
   AND ("temporary_willpower" BETWEEN 0 AND 10)
   AND ((temporary_willpower <= willpower))
   AND ("age" BETWEEN 0 AND 500)
   AND ("apparent_age" BETWEEN 0 AND 200));
-- humans_willpower_range: samples
SELECT "id", "willpower"
FROM "humans"
WHERE NOT ("willpower" BETWEEN 1 AND 10)
ORDER BY "id"
LIMIT 5;
-- humans_temporary_willpower_range: samples
SELECT "id", "temporary_willpower"
FROM "humans"
WHERE NOT ("temporary_willpower" BETWEEN 0 AND 10)
ORDER BY "id"
LIMIT 5;
-- humans_temporary_willpower_le_willpower: samples
SELECT "id"
FROM "humans"
WHERE NOT ((temporary_willpower <= willpower))
ORDER BY "id"
LIMIT 5;
-- humans_age_range: samples
SELECT "id", "age"
FROM "humans"
WHERE NOT ("age" BETWEEN 0 AND 500)
ORDER BY "id"
LIMIT 5;
-- humans_apparent_age_range: samples
SELECT "id", "apparent_age"
FROM "humans"
WHERE NOT ("apparent_age" BETWEEN 0 AND 200)
ORDER BY "id"
LIMIT 5;
-- st_relationships: counts
-- st_relationships_user_chronicle_gameline_unique
WITH dup AS MATERIALIZED (
  SELECT "user_id", "chronicle_id", "gameline", count(*) AS n
  FROM "st_relationships"
  WHERE "user_id" IS NOT NULL AND "chronicle_id" IS NOT NULL AND "gameline" IS NOT NULL
  GROUP BY "user_id", "chronicle_id", "gameline"
  HAVING count(*) > 1),
summary AS (SELECT count(*) AS groups, CAST(coalesce(sum(n - 1), 0) AS bigint) AS surplus FROM dup),
cc_sample AS MATERIALIZED (SELECT "user_id", "chronicle_id", "gameline", n FROM dup ORDER BY "user_id", "chronicle_id", "gameline" LIMIT 5),
cc_ids AS (SELECT "user_id", "chronicle_id", "gameline", group_concat("id", ',') AS ids FROM "st_relationships" WHERE "user_id" IS NOT NULL AND "chronicle_id" IS NOT NULL AND "gameline" IS NOT NULL AND ("user_id", "chronicle_id", "gameline") IN (SELECT "user_id", "chronicle_id", "gameline" FROM cc_sample) GROUP BY "user_id", "chronicle_id", "gameline")
SELECT summary.groups, summary.surplus, cc_sample.n, cc_ids.ids, cc_sample."user_id", cc_sample."chronicle_id", cc_sample."gameline"
FROM summary LEFT JOIN cc_sample ON true LEFT JOIN cc_ids ON cc_ids."user_id" = cc_sample."user_id" AND cc_ids."chronicle_id" = cc_sample."chronicle_id" AND cc_ids."gameline" = cc_sample."gameline"
ORDER BY cc_sample."user_id", cc_sample."chronicle_id", cc_sample."gameline";
