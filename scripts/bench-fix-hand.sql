-- The repairs of the reference schema (schema/*.toml) as a DBA would type them: one UPDATE per
-- table (two on humans, whose third rule reads what the first two write), one DELETE for the
-- duplicates (NULLs are distinct in a UNIQUE), in one transaction, no audit. Standard SQL: runs unchanged under sqlite3 and psql.
-- The baseline of scripts/bench-fix's "hand" variant (docs/benchmarks.md, "fix").
BEGIN;
UPDATE ability_blocks SET
    alertness = CASE WHEN alertness < 0 THEN 0 WHEN alertness > 10 THEN 10 ELSE alertness END,
    athletics = CASE WHEN athletics < 0 THEN 0 WHEN athletics > 10 THEN 10 ELSE athletics END,
    brawl = CASE WHEN brawl < 0 THEN 0 WHEN brawl > 10 THEN 10 ELSE brawl END,
    empathy = CASE WHEN empathy < 0 THEN 0 WHEN empathy > 10 THEN 10 ELSE empathy END,
    expression = CASE WHEN expression < 0 THEN 0 WHEN expression > 10 THEN 10 ELSE expression END,
    intimidation = CASE WHEN intimidation < 0 THEN 0 WHEN intimidation > 10 THEN 10 ELSE intimidation END,
    streetwise = CASE WHEN streetwise < 0 THEN 0 WHEN streetwise > 10 THEN 10 ELSE streetwise END,
    subterfuge = CASE WHEN subterfuge < 0 THEN 0 WHEN subterfuge > 10 THEN 10 ELSE subterfuge END
WHERE NOT ((alertness >= 0 AND alertness <= 10) AND (athletics >= 0 AND athletics <= 10) AND (brawl >= 0 AND brawl <= 10) AND (empathy >= 0 AND empathy <= 10) AND (expression >= 0 AND expression <= 10) AND (intimidation >= 0 AND intimidation <= 10) AND (streetwise >= 0 AND streetwise <= 10) AND (subterfuge >= 0 AND subterfuge <= 10));
UPDATE attribute_blocks SET
    strength = CASE WHEN strength < 1 THEN 1 WHEN strength > 10 THEN 10 ELSE strength END,
    dexterity = CASE WHEN dexterity < 1 THEN 1 WHEN dexterity > 10 THEN 10 ELSE dexterity END,
    stamina = CASE WHEN stamina < 1 THEN 1 WHEN stamina > 10 THEN 10 ELSE stamina END,
    charisma = CASE WHEN charisma < 1 THEN 1 WHEN charisma > 10 THEN 10 ELSE charisma END,
    manipulation = CASE WHEN manipulation < 1 THEN 1 WHEN manipulation > 10 THEN 10 ELSE manipulation END,
    appearance = CASE WHEN appearance < 1 THEN 1 WHEN appearance > 10 THEN 10 ELSE appearance END,
    perception = CASE WHEN perception < 1 THEN 1 WHEN perception > 10 THEN 10 ELSE perception END,
    intelligence = CASE WHEN intelligence < 1 THEN 1 WHEN intelligence > 10 THEN 10 ELSE intelligence END,
    wits = CASE WHEN wits < 1 THEN 1 WHEN wits > 10 THEN 10 ELSE wits END
WHERE NOT ((strength >= 1 AND strength <= 10) AND (dexterity >= 1 AND dexterity <= 10) AND (stamina >= 1 AND stamina <= 10) AND (charisma >= 1 AND charisma <= 10) AND (manipulation >= 1 AND manipulation <= 10) AND (appearance >= 1 AND appearance <= 10) AND (perception >= 1 AND perception <= 10) AND (intelligence >= 1 AND intelligence <= 10) AND (wits >= 1 AND wits <= 10));
UPDATE characters SET
    xp = CASE WHEN xp < 0 THEN 0 ELSE xp END,
    status = CASE WHEN NOT (status IN ('Un', 'Sub', 'App', 'Ret', 'Dec')) THEN 'Un' ELSE status END
WHERE NOT ((xp >= 0) AND (status IN ('Un', 'Sub', 'App', 'Ret', 'Dec')));
UPDATE humans SET
    willpower = CASE WHEN willpower < 1 THEN 1 WHEN willpower > 10 THEN 10 ELSE willpower END,
    temporary_willpower = CASE WHEN temporary_willpower < 0 THEN 0 WHEN temporary_willpower > 10 THEN 10 ELSE temporary_willpower END
WHERE NOT ((willpower >= 1 AND willpower <= 10) AND (temporary_willpower >= 0 AND temporary_willpower <= 10));
UPDATE humans SET
    temporary_willpower = CASE WHEN NOT (temporary_willpower <= willpower) THEN willpower ELSE temporary_willpower END,
    age = CASE WHEN age < 0 THEN 0 WHEN age > 500 THEN 500 ELSE age END,
    apparent_age = CASE WHEN NOT (apparent_age >= 0 AND apparent_age <= 200) THEN NULL ELSE apparent_age END
WHERE NOT ((temporary_willpower <= willpower) AND (age >= 0 AND age <= 500) AND (apparent_age >= 0 AND apparent_age <= 200));
DELETE FROM st_relationships WHERE id IN (
    SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY user_id, chronicle_id, gameline ORDER BY id) AS rn
                    FROM st_relationships
                    WHERE user_id IS NOT NULL AND chronicle_id IS NOT NULL AND gameline IS NOT NULL) AS numbered
    WHERE rn > 1);
COMMIT;
