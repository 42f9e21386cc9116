-- 0001_initial (up)
-- before the transaction: inside one it is a no-op
PRAGMA foreign_keys = OFF;
-- one transaction, taking the write lock up front
BEGIN IMMEDIATE;
-- rebuild ability_blocks under its own name (no RENAME, which would re-parse the whole schema): a copy of its rows, kept as stored
CREATE TEMP TABLE "cc_copy" ("c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9");
INSERT INTO temp."cc_copy" SELECT "id", "character_id", "alertness", "athletics", "brawl", "empathy", "expression", "intimidation", "streetwise", "subterfuge" FROM "ability_blocks";
CREATE TEMP TABLE IF NOT EXISTS cc_saved_sequence (name TEXT PRIMARY KEY, seq INTEGER);
-- AUTOINCREMENT must never go down
INSERT OR REPLACE INTO cc_saved_sequence SELECT name, seq FROM sqlite_sequence WHERE name = 'ability_blocks';
DROP VIEW "character_summary";
-- foreign keys are off: nothing cascades
DROP TABLE "ability_blocks";
-- the original CREATE TABLE text with the constraints edited in
CREATE TABLE "ability_blocks" (
    id           INTEGER PRIMARY KEY,
    character_id INTEGER NOT NULL REFERENCES characters (id) ON DELETE CASCADE,
    alertness    INTEGER NOT NULL DEFAULT 0,
    athletics    INTEGER NOT NULL DEFAULT 0,
    brawl        INTEGER NOT NULL DEFAULT 0,
    empathy      INTEGER NOT NULL DEFAULT 0,
    expression   INTEGER NOT NULL DEFAULT 0,
    intimidation INTEGER NOT NULL DEFAULT 0,
    streetwise   INTEGER NOT NULL DEFAULT 0,
    subterfuge   INTEGER NOT NULL DEFAULT 0,
  CONSTRAINT "ability_blocks_alertness_range" CHECK ("alertness" BETWEEN 0 AND 10),
  CONSTRAINT "ability_blocks_athletics_range" CHECK ("athletics" BETWEEN 0 AND 10),
  CONSTRAINT "ability_blocks_brawl_range" CHECK ("brawl" BETWEEN 0 AND 10),
  CONSTRAINT "ability_blocks_empathy_range" CHECK ("empathy" BETWEEN 0 AND 10),
  CONSTRAINT "ability_blocks_expression_range" CHECK ("expression" BETWEEN 0 AND 10),
  CONSTRAINT "ability_blocks_intimidation_range" CHECK ("intimidation" BETWEEN 0 AND 10),
  CONSTRAINT "ability_blocks_streetwise_range" CHECK ("streetwise" BETWEEN 0 AND 10),
  CONSTRAINT "ability_blocks_subterfuge_range" CHECK ("subterfuge" BETWEEN 0 AND 10)
);
-- copy every row back (fails, rolling back, if a row violates a new CHECK)
INSERT INTO "ability_blocks" ("id", "character_id", "alertness", "athletics", "brawl", "empathy", "expression", "intimidation", "streetwise", "subterfuge") SELECT "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9" FROM temp."cc_copy";
DROP TABLE temp."cc_copy";
CREATE INDEX ability_blocks_character_id_idx ON ability_blocks (character_id);
CREATE VIEW character_summary AS
SELECT c.id AS character_id,
       c.name,
       c.xp,
       c.status,
       h.willpower,
       h.temporary_willpower,
       h.age,
       h.apparent_age
FROM characters AS c
LEFT JOIN humans AS h ON h.character_id = c.id;
DELETE FROM sqlite_sequence WHERE name = 'ability_blocks' AND EXISTS (SELECT 1 FROM cc_saved_sequence WHERE name = 'ability_blocks');
INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM cc_saved_sequence WHERE name = 'ability_blocks';
DELETE FROM cc_saved_sequence;
-- rebuild attribute_blocks under its own name (no RENAME, which would re-parse the whole schema): a copy of its rows, kept as stored
CREATE TEMP TABLE "cc_copy" ("c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10");
INSERT INTO temp."cc_copy" SELECT "id", "character_id", "strength", "dexterity", "stamina", "charisma", "manipulation", "appearance", "perception", "intelligence", "wits" FROM "attribute_blocks";
CREATE TEMP TABLE IF NOT EXISTS cc_saved_sequence (name TEXT PRIMARY KEY, seq INTEGER);
-- AUTOINCREMENT must never go down
INSERT OR REPLACE INTO cc_saved_sequence SELECT name, seq FROM sqlite_sequence WHERE name = 'attribute_blocks';
DROP VIEW "character_summary";
-- foreign keys are off: nothing cascades
DROP TABLE "attribute_blocks";
-- the original CREATE TABLE text with the constraints edited in
CREATE TABLE "attribute_blocks" (
    id           INTEGER PRIMARY KEY,
    character_id INTEGER NOT NULL REFERENCES characters (id) ON DELETE CASCADE,
    strength     INTEGER NOT NULL DEFAULT 1,
    dexterity    INTEGER NOT NULL DEFAULT 1,
    stamina      INTEGER NOT NULL DEFAULT 1,
    charisma     INTEGER NOT NULL DEFAULT 1,
    manipulation INTEGER NOT NULL DEFAULT 1,
    appearance   INTEGER NOT NULL DEFAULT 1,
    perception   INTEGER NOT NULL DEFAULT 1,
    intelligence INTEGER NOT NULL DEFAULT 1,
    wits         INTEGER NOT NULL DEFAULT 1,
  CONSTRAINT "attribute_blocks_strength_range" CHECK ("strength" BETWEEN 1 AND 10),
  CONSTRAINT "attribute_blocks_dexterity_range" CHECK ("dexterity" BETWEEN 1 AND 10),
  CONSTRAINT "attribute_blocks_stamina_range" CHECK ("stamina" BETWEEN 1 AND 10),
  CONSTRAINT "attribute_blocks_charisma_range" CHECK ("charisma" BETWEEN 1 AND 10),
  CONSTRAINT "attribute_blocks_manipulation_range" CHECK ("manipulation" BETWEEN 1 AND 10),
  CONSTRAINT "attribute_blocks_appearance_range" CHECK ("appearance" BETWEEN 1 AND 10),
  CONSTRAINT "attribute_blocks_perception_range" CHECK ("perception" BETWEEN 1 AND 10),
  CONSTRAINT "attribute_blocks_intelligence_range" CHECK ("intelligence" BETWEEN 1 AND 10),
  CONSTRAINT "attribute_blocks_wits_range" CHECK ("wits" BETWEEN 1 AND 10)
);
-- copy every row back (fails, rolling back, if a row violates a new CHECK)
INSERT INTO "attribute_blocks" ("id", "character_id", "strength", "dexterity", "stamina", "charisma", "manipulation", "appearance", "perception", "intelligence", "wits") SELECT "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10" FROM temp."cc_copy";
DROP TABLE temp."cc_copy";
CREATE INDEX attribute_blocks_character_id_idx ON attribute_blocks (character_id);
CREATE VIEW character_summary AS
SELECT c.id AS character_id,
       c.name,
       c.xp,
       c.status,
       h.willpower,
       h.temporary_willpower,
       h.age,
       h.apparent_age
FROM characters AS c
LEFT JOIN humans AS h ON h.character_id = c.id;
DELETE FROM sqlite_sequence WHERE name = 'attribute_blocks' AND EXISTS (SELECT 1 FROM cc_saved_sequence WHERE name = 'attribute_blocks');
INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM cc_saved_sequence WHERE name = 'attribute_blocks';
DELETE FROM cc_saved_sequence;
-- the proof below fails on a row it finds, as the copy would (also run by hand)
CREATE TEMP TABLE IF NOT EXISTS "cc_proof" (failed TEXT CONSTRAINT "a row fails a CHECK of the new text" CHECK (failed IS NULL));
-- no row of characters may violate add_check characters.characters_xp_nonnegative, add_check characters.characters_status_valid or another CHECK of its new text (read inside the write transaction; the copy below does not evaluate them: for an IN list that costs far more)
INSERT INTO temp."cc_proof" SELECT CASE WHEN NOT ("xp" >= 0) THEN 'characters_xp_nonnegative' WHEN NOT ("status" IN ('Un', 'Sub', 'App', 'Ret', 'Dec')) THEN 'characters_status_valid' END FROM "characters" WHERE NOT ("xp" >= 0) OR NOT ("status" IN ('Un', 'Sub', 'App', 'Ret', 'Dec')) LIMIT 1;
DROP TABLE temp."cc_proof";
-- rebuild characters under its own name (no RENAME, which would re-parse the whole schema): a copy of its rows, kept as stored
CREATE TEMP TABLE "cc_copy" ("c0", "c1", "c2", "c3", "c4", "c5");
INSERT INTO temp."cc_copy" SELECT "id", "name", "xp", "status", "created_at", "updated_at" FROM "characters";
CREATE TEMP TABLE IF NOT EXISTS cc_saved_sequence (name TEXT PRIMARY KEY, seq INTEGER);
-- AUTOINCREMENT must never go down
INSERT OR REPLACE INTO cc_saved_sequence SELECT name, seq FROM sqlite_sequence WHERE name = 'characters';
DROP VIEW "character_summary";
-- foreign keys are off: nothing cascades
DROP TABLE "characters";
-- the original CREATE TABLE text with the constraints edited in
CREATE TABLE "characters" (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    xp         INTEGER NOT NULL DEFAULT 0,
    status     TEXT DEFAULT 'Un',
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "characters_xp_nonnegative" CHECK ("xp" >= 0),
  CONSTRAINT "characters_status_valid" CHECK ("status" IN ('Un', 'Sub', 'App', 'Ret', 'Dec'))
);
PRAGMA ignore_check_constraints = ON;
-- copy every row back (its CHECKs proven by the scan above)
INSERT INTO "characters" ("id", "name", "xp", "status", "created_at", "updated_at") SELECT "c0", "c1", "c2", "c3", "c4", "c5" FROM temp."cc_copy";
PRAGMA ignore_check_constraints = OFF;
DROP TABLE temp."cc_copy";
CREATE INDEX characters_name_idx ON characters (name);
CREATE INDEX characters_updated_at_idx ON characters (updated_at DESC);
CREATE TRIGGER characters_touch_updated_at
AFTER UPDATE ON characters
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE characters SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
CREATE TRIGGER characters_log_status
AFTER UPDATE OF status ON characters
FOR EACH ROW WHEN NEW.status IS NOT OLD.status
BEGIN
    INSERT INTO character_log (character_id, old_status, new_status)
    VALUES (NEW.id, OLD.status, NEW.status);
END;
CREATE VIEW character_summary AS
SELECT c.id AS character_id,
       c.name,
       c.xp,
       c.status,
       h.willpower,
       h.temporary_willpower,
       h.age,
       h.apparent_age
FROM characters AS c
LEFT JOIN humans AS h ON h.character_id = c.id;
DELETE FROM sqlite_sequence WHERE name = 'characters' AND EXISTS (SELECT 1 FROM cc_saved_sequence WHERE name = 'characters');
INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM cc_saved_sequence WHERE name = 'characters';
DELETE FROM cc_saved_sequence;
-- rebuild humans under its own name (no RENAME, which would re-parse the whole schema): a copy of its rows, kept as stored
CREATE TEMP TABLE "cc_copy" ("c0", "c1", "c2", "c3", "c4", "c5");
INSERT INTO temp."cc_copy" SELECT "id", "character_id", "willpower", "temporary_willpower", "age", "apparent_age" FROM "humans";
CREATE TEMP TABLE IF NOT EXISTS cc_saved_sequence (name TEXT PRIMARY KEY, seq INTEGER);
-- AUTOINCREMENT must never go down
INSERT OR REPLACE INTO cc_saved_sequence SELECT name, seq FROM sqlite_sequence WHERE name = 'humans';
DROP VIEW "character_summary";
-- foreign keys are off: nothing cascades
DROP TABLE "humans";
-- the original CREATE TABLE text with the constraints edited in
CREATE TABLE "humans" (
    id                  INTEGER PRIMARY KEY,
    character_id        INTEGER NOT NULL REFERENCES characters (id) ON DELETE CASCADE,
    willpower           INTEGER NOT NULL DEFAULT 1,
    temporary_willpower INTEGER,
    age                 INTEGER,
    apparent_age        INTEGER,
  CONSTRAINT "humans_willpower_range" CHECK ("willpower" BETWEEN 1 AND 10),
  CONSTRAINT "humans_temporary_willpower_range" CHECK ("temporary_willpower" BETWEEN 0 AND 10),
  CONSTRAINT "humans_temporary_willpower_le_willpower" CHECK ((temporary_willpower <= willpower)),
  CONSTRAINT "humans_age_range" CHECK ("age" BETWEEN 0 AND 500),
  CONSTRAINT "humans_apparent_age_range" CHECK ("apparent_age" BETWEEN 0 AND 200)
);
-- copy every row back (fails, rolling back, if a row violates a new CHECK)
INSERT INTO "humans" ("id", "character_id", "willpower", "temporary_willpower", "age", "apparent_age") SELECT "c0", "c1", "c2", "c3", "c4", "c5" FROM temp."cc_copy";
DROP TABLE temp."cc_copy";
CREATE INDEX humans_character_id_idx ON humans (character_id);
CREATE INDEX humans_age_idx ON humans (age) WHERE age IS NOT NULL;
CREATE VIEW character_summary AS
SELECT c.id AS character_id,
       c.name,
       c.xp,
       c.status,
       h.willpower,
       h.temporary_willpower,
       h.age,
       h.apparent_age
FROM characters AS c
LEFT JOIN humans AS h ON h.character_id = c.id;
DELETE FROM sqlite_sequence WHERE name = 'humans' AND EXISTS (SELECT 1 FROM cc_saved_sequence WHERE name = 'humans');
INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM cc_saved_sequence WHERE name = 'humans';
DELETE FROM cc_saved_sequence;
-- a UNIQUE is a unique index: no rebuild
CREATE UNIQUE INDEX "st_relationships_user_chronicle_gameline_unique" ON "st_relationships" ("user_id", "chronicle_id", "gameline");
-- must return no rows (constraintctl rolls back if it does):
PRAGMA foreign_key_check("ability_blocks");
-- must return no rows (constraintctl rolls back if it does):
PRAGMA foreign_key_check("attribute_blocks");
-- must return no rows (constraintctl rolls back if it does):
PRAGMA foreign_key_check("characters");
-- must return no rows (constraintctl rolls back if it does):
PRAGMA foreign_key_check("humans");
INSERT INTO constraintctl_history (version, name, checksum, direction, started_at, tool_version, applied_by) VALUES (1, 'initial', '271ecf5ac5f680e57e5e3a5fd52e9468987a650be5cde736672fd3d884fb8192', 'up', '<started_at>', 'test', 'tester@host');
COMMIT;
-- as before
PRAGMA foreign_keys = OFF;
