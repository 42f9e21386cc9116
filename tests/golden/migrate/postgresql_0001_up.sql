-- 0001_initial (up)
-- constraintctl holds the advisory lock pg_advisory_lock(109278805587052) on its connection while this runs; lock_timeout steps are retried up to 5 times
SET statement_timeout = 0;
SET lock_timeout = 2000;
-- in progress: 10 steps, each counted when it commits; the constraints this run builds, so that a rerun never takes them for pre-existing ones
WITH intent AS (INSERT INTO constraintctl_intent (name, table_name, started_at) VALUES ('ability_blocks_alertness_range', 'ability_blocks', CAST(clock_timestamp() AS text)), ('ability_blocks_athletics_range', 'ability_blocks', CAST(clock_timestamp() AS text)), ('ability_blocks_brawl_range', 'ability_blocks', CAST(clock_timestamp() AS text)), ('ability_blocks_empathy_range', 'ability_blocks', CAST(clock_timestamp() AS text)), ('ability_blocks_expression_range', 'ability_blocks', CAST(clock_timestamp() AS text)), ('ability_blocks_intimidation_range', 'ability_blocks', CAST(clock_timestamp() AS text)), ('ability_blocks_streetwise_range', 'ability_blocks', CAST(clock_timestamp() AS text)), ('ability_blocks_subterfuge_range', 'ability_blocks', CAST(clock_timestamp() AS text)), ('attribute_blocks_strength_range', 'attribute_blocks', CAST(clock_timestamp() AS text)), ('attribute_blocks_dexterity_range', 'attribute_blocks', CAST(clock_timestamp() AS text)), ('attribute_blocks_stamina_range', 'attribute_blocks', CAST(clock_timestamp() AS text)), ('attribute_blocks_charisma_range', 'attribute_blocks', CAST(clock_timestamp() AS text)), ('attribute_blocks_manipulation_range', 'attribute_blocks', CAST(clock_timestamp() AS text)), ('attribute_blocks_appearance_range', 'attribute_blocks', CAST(clock_timestamp() AS text)), ('attribute_blocks_perception_range', 'attribute_blocks', CAST(clock_timestamp() AS text)), ('attribute_blocks_intelligence_range', 'attribute_blocks', CAST(clock_timestamp() AS text)), ('attribute_blocks_wits_range', 'attribute_blocks', CAST(clock_timestamp() AS text)), ('characters_xp_nonnegative', 'characters', CAST(clock_timestamp() AS text)), ('characters_status_valid', 'characters', CAST(clock_timestamp() AS text)), ('humans_willpower_range', 'humans', CAST(clock_timestamp() AS text)), ('humans_temporary_willpower_range', 'humans', CAST(clock_timestamp() AS text)), ('humans_temporary_willpower_le_willpower', 'humans', CAST(clock_timestamp() AS text)), ('humans_age_range', 'humans', CAST(clock_timestamp() AS text)), ('humans_apparent_age_range', 'humans', CAST(clock_timestamp() AS text)), ('st_relationships_user_chronicle_gameline_unique', 'st_relationships', CAST(clock_timestamp() AS text)) ON CONFLICT (name) DO NOTHING) INSERT INTO constraintctl_progress (version, direction, name, checksum, steps_total, steps_done, started_at, updated_at, tool_version, applied_by) VALUES (1, 'up', 'initial', '271ecf5ac5f680e57e5e3a5fd52e9468987a650be5cde736672fd3d884fb8192', 10, 0, CAST(clock_timestamp() AS text), CAST(clock_timestamp() AS text), 'test', 'tester@host') ON CONFLICT (version, direction) DO UPDATE SET steps_total = constraintctl_progress.steps_done + EXCLUDED.steps_total, updated_at = EXCLUDED.updated_at;
RESET statement_timeout;
RESET lock_timeout;
SET statement_timeout = 0;
SET lock_timeout = 2000;
-- outside a transaction: writers are not blocked
CREATE UNIQUE INDEX CONCURRENTLY "st_relationships_user_chronicle_gameline_unique" ON "st_relationships" ("user_id", "chronicle_id", "gameline");
RESET statement_timeout;
RESET lock_timeout;
SET statement_timeout = 0;
SET lock_timeout = 2000;
-- one step done, committed with it
UPDATE constraintctl_progress SET steps_done = steps_done + 1, updated_at = CAST(clock_timestamp() AS text) WHERE version = 1 AND direction = 'up';
RESET statement_timeout;
RESET lock_timeout;
-- short exclusive steps (ACCESS EXCLUSIVE for milliseconds), each waiting at most lock_timeout
BEGIN;
SET LOCAL lock_timeout = 2000;
-- enforced for new rows at once; existing rows validated below
ALTER TABLE "ability_blocks" ADD CONSTRAINT "ability_blocks_alertness_range" CHECK ("alertness" BETWEEN 0 AND 10) NOT VALID, ADD CONSTRAINT "ability_blocks_athletics_range" CHECK ("athletics" BETWEEN 0 AND 10) NOT VALID, ADD CONSTRAINT "ability_blocks_brawl_range" CHECK ("brawl" BETWEEN 0 AND 10) NOT VALID, ADD CONSTRAINT "ability_blocks_empathy_range" CHECK ("empathy" BETWEEN 0 AND 10) NOT VALID, ADD CONSTRAINT "ability_blocks_expression_range" CHECK ("expression" BETWEEN 0 AND 10) NOT VALID, ADD CONSTRAINT "ability_blocks_intimidation_range" CHECK ("intimidation" BETWEEN 0 AND 10) NOT VALID, ADD CONSTRAINT "ability_blocks_streetwise_range" CHECK ("streetwise" BETWEEN 0 AND 10) NOT VALID, ADD CONSTRAINT "ability_blocks_subterfuge_range" CHECK ("subterfuge" BETWEEN 0 AND 10) NOT VALID;
-- one step done, committed with it
UPDATE constraintctl_progress SET steps_done = steps_done + 1, updated_at = CAST(clock_timestamp() AS text) WHERE version = 1 AND direction = 'up';
COMMIT;
-- short exclusive steps (ACCESS EXCLUSIVE for milliseconds), each waiting at most lock_timeout
BEGIN;
SET LOCAL lock_timeout = 2000;
-- enforced for new rows at once; existing rows validated below
ALTER TABLE "attribute_blocks" ADD CONSTRAINT "attribute_blocks_strength_range" CHECK ("strength" BETWEEN 1 AND 10) NOT VALID, ADD CONSTRAINT "attribute_blocks_dexterity_range" CHECK ("dexterity" BETWEEN 1 AND 10) NOT VALID, ADD CONSTRAINT "attribute_blocks_stamina_range" CHECK ("stamina" BETWEEN 1 AND 10) NOT VALID, ADD CONSTRAINT "attribute_blocks_charisma_range" CHECK ("charisma" BETWEEN 1 AND 10) NOT VALID, ADD CONSTRAINT "attribute_blocks_manipulation_range" CHECK ("manipulation" BETWEEN 1 AND 10) NOT VALID, ADD CONSTRAINT "attribute_blocks_appearance_range" CHECK ("appearance" BETWEEN 1 AND 10) NOT VALID, ADD CONSTRAINT "attribute_blocks_perception_range" CHECK ("perception" BETWEEN 1 AND 10) NOT VALID, ADD CONSTRAINT "attribute_blocks_intelligence_range" CHECK ("intelligence" BETWEEN 1 AND 10) NOT VALID, ADD CONSTRAINT "attribute_blocks_wits_range" CHECK ("wits" BETWEEN 1 AND 10) NOT VALID;
-- one step done, committed with it
UPDATE constraintctl_progress SET steps_done = steps_done + 1, updated_at = CAST(clock_timestamp() AS text) WHERE version = 1 AND direction = 'up';
COMMIT;
-- short exclusive steps (ACCESS EXCLUSIVE for milliseconds), each waiting at most lock_timeout
BEGIN;
SET LOCAL lock_timeout = 2000;
-- enforced for new rows at once; existing rows validated below
ALTER TABLE "characters" ADD CONSTRAINT "characters_xp_nonnegative" CHECK ("xp" >= 0) NOT VALID, ADD CONSTRAINT "characters_status_valid" CHECK ("status" IN ('Un', 'Sub', 'App', 'Ret', 'Dec')) NOT VALID;
-- one step done, committed with it
UPDATE constraintctl_progress SET steps_done = steps_done + 1, updated_at = CAST(clock_timestamp() AS text) WHERE version = 1 AND direction = 'up';
COMMIT;
-- short exclusive steps (ACCESS EXCLUSIVE for milliseconds), each waiting at most lock_timeout
BEGIN;
SET LOCAL lock_timeout = 2000;
-- enforced for new rows at once; existing rows validated below
ALTER TABLE "humans" ADD CONSTRAINT "humans_willpower_range" CHECK ("willpower" BETWEEN 1 AND 10) NOT VALID, ADD CONSTRAINT "humans_temporary_willpower_range" CHECK ("temporary_willpower" BETWEEN 0 AND 10) NOT VALID, ADD CONSTRAINT "humans_temporary_willpower_le_willpower" CHECK ((temporary_willpower <= willpower)) NOT VALID, ADD CONSTRAINT "humans_age_range" CHECK ("age" BETWEEN 0 AND 500) NOT VALID, ADD CONSTRAINT "humans_apparent_age_range" CHECK ("apparent_age" BETWEEN 0 AND 200) NOT VALID;
-- one step done, committed with it
UPDATE constraintctl_progress SET steps_done = steps_done + 1, updated_at = CAST(clock_timestamp() AS text) WHERE version = 1 AND direction = 'up';
COMMIT;
-- short exclusive steps (ACCESS EXCLUSIVE for milliseconds), each waiting at most lock_timeout
BEGIN;
SET LOCAL lock_timeout = 2000;
ALTER TABLE "st_relationships" ADD CONSTRAINT "st_relationships_user_chronicle_gameline_unique" UNIQUE USING INDEX "st_relationships_user_chronicle_gameline_unique";
-- one step done, committed with it
UPDATE constraintctl_progress SET steps_done = steps_done + 1, updated_at = CAST(clock_timestamp() AS text) WHERE version = 1 AND direction = 'up';
COMMIT;
-- SHARE UPDATE EXCLUSIVE: reads and writes continue
BEGIN;
SET LOCAL lock_timeout = 2000;
ALTER TABLE "ability_blocks" VALIDATE CONSTRAINT "ability_blocks_alertness_range", VALIDATE CONSTRAINT "ability_blocks_athletics_range", VALIDATE CONSTRAINT "ability_blocks_brawl_range", VALIDATE CONSTRAINT "ability_blocks_empathy_range", VALIDATE CONSTRAINT "ability_blocks_expression_range", VALIDATE CONSTRAINT "ability_blocks_intimidation_range", VALIDATE CONSTRAINT "ability_blocks_streetwise_range", VALIDATE CONSTRAINT "ability_blocks_subterfuge_range";
-- one step done, committed with it
UPDATE constraintctl_progress SET steps_done = steps_done + 1, updated_at = CAST(clock_timestamp() AS text) WHERE version = 1 AND direction = 'up';
COMMIT;
-- SHARE UPDATE EXCLUSIVE: reads and writes continue
BEGIN;
SET LOCAL lock_timeout = 2000;
ALTER TABLE "attribute_blocks" VALIDATE CONSTRAINT "attribute_blocks_strength_range", VALIDATE CONSTRAINT "attribute_blocks_dexterity_range", VALIDATE CONSTRAINT "attribute_blocks_stamina_range", VALIDATE CONSTRAINT "attribute_blocks_charisma_range", VALIDATE CONSTRAINT "attribute_blocks_manipulation_range", VALIDATE CONSTRAINT "attribute_blocks_appearance_range", VALIDATE CONSTRAINT "attribute_blocks_perception_range", VALIDATE CONSTRAINT "attribute_blocks_intelligence_range", VALIDATE CONSTRAINT "attribute_blocks_wits_range";
-- one step done, committed with it
UPDATE constraintctl_progress SET steps_done = steps_done + 1, updated_at = CAST(clock_timestamp() AS text) WHERE version = 1 AND direction = 'up';
COMMIT;
-- SHARE UPDATE EXCLUSIVE: reads and writes continue
BEGIN;
SET LOCAL lock_timeout = 2000;
ALTER TABLE "characters" VALIDATE CONSTRAINT "characters_xp_nonnegative", VALIDATE CONSTRAINT "characters_status_valid";
-- one step done, committed with it
UPDATE constraintctl_progress SET steps_done = steps_done + 1, updated_at = CAST(clock_timestamp() AS text) WHERE version = 1 AND direction = 'up';
COMMIT;
-- SHARE UPDATE EXCLUSIVE: reads and writes continue
BEGIN;
SET LOCAL lock_timeout = 2000;
ALTER TABLE "humans" VALIDATE CONSTRAINT "humans_willpower_range", VALIDATE CONSTRAINT "humans_temporary_willpower_range", VALIDATE CONSTRAINT "humans_temporary_willpower_le_willpower", VALIDATE CONSTRAINT "humans_age_range", VALIDATE CONSTRAINT "humans_apparent_age_range";
-- recorded with the last transactional step
INSERT INTO constraintctl_history (version, name, checksum, direction, started_at, tool_version, applied_by) VALUES (1, 'initial', '271ecf5ac5f680e57e5e3a5fd52e9468987a650be5cde736672fd3d884fb8192', 'up', '<started_at>', 'test', 'tester@host');
DELETE FROM constraintctl_intent WHERE name IN ('ability_blocks_alertness_range', 'ability_blocks_athletics_range', 'ability_blocks_brawl_range', 'ability_blocks_empathy_range', 'ability_blocks_expression_range', 'ability_blocks_intimidation_range', 'ability_blocks_streetwise_range', 'ability_blocks_subterfuge_range', 'attribute_blocks_strength_range', 'attribute_blocks_dexterity_range', 'attribute_blocks_stamina_range', 'attribute_blocks_charisma_range', 'attribute_blocks_manipulation_range', 'attribute_blocks_appearance_range', 'attribute_blocks_perception_range', 'attribute_blocks_intelligence_range', 'attribute_blocks_wits_range', 'characters_xp_nonnegative', 'characters_status_valid', 'humans_willpower_range', 'humans_temporary_willpower_range', 'humans_temporary_willpower_le_willpower', 'humans_age_range', 'humans_apparent_age_range', 'st_relationships_user_chronicle_gameline_unique');
-- the run is complete: no longer in progress
DELETE FROM constraintctl_progress WHERE version = 1 AND direction = 'up';
COMMIT;
