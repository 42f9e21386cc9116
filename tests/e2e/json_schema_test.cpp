// Every command's --json document, success and error, validated against its
// published JSON Schema under docs/schema/ (issue 14) by a real validator:
// Debian's python3-jsonschema (scripts/setup installs it), run as
// /usr/bin/python3 -m jsonschema. The commands run on the reference fixture,
// on SQLite and on PostgreSQL, in the states that make each document's
// variants: violations and clean, dry runs, a refused apply, after
// drop-checks, and errors (a bad schema file, a missing database).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace cc::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* validator = "/usr/bin/python3";

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool validator_available() {
  return std::system((std::string(validator) + " -c 'import jsonschema' >/dev/null 2>&1").c_str()) == 0;
}

// Validates `document` against docs/schema/<schema>.schema.json; returns the
// validator's message, empty when the document is valid.
std::string validate(const TempDir& tmp, const std::string& document, const std::string& schema) {
  static int n = 0;
  const fs::path doc = tmp / ("doc" + std::to_string(++n) + ".json");
  const fs::path log = tmp / "validator.log";
  write_file(doc, document);
  const fs::path dir = source_dir() / "docs/schema";
  const fs::path file = dir / (schema + ".schema.json");
  if (!fs::exists(file)) return "no schema " + file.string();
  // --base-uri: the schemas' relative $refs (common.schema.json#/$defs/...)
  // resolve to the files beside them, never to the network.
  // One line per error: where in the document, and what is wrong.
  const std::string cmd = std::string(validator) + " -W ignore -m jsonschema -F " +
                          sh_quote("{error.json_path}: {error.message}\n") + " --base-uri " +
                          sh_quote("file://" + dir.string() + "/") + " -i " + sh_quote(doc.string()) + " " +
                          sh_quote(file.string()) + " > " + sh_quote(log.string()) + " 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc == 0) return "";
  const std::string message = read_file(log);
  return message.empty() ? "validator exited " + std::to_string(rc) : message;
}

class JsonSchemaTest : public DialectTest {
 protected:
  void SetUp() override {
    DialectTest::SetUp();
    if (IsSkipped()) return;
    if (!validator_available()) {
      FAIL() << validator << " cannot import jsonschema: install Debian's python3-jsonschema (scripts/setup does)";
    }
    load_fixture(1000);
  }

  // Runs the command with --json (on this database unless `db` is false),
  // checks its exit code, that stdout is one JSON document, and that the
  // document validates against `schema`. Returns the document.
  nlohmann::json expect_valid(std::vector<std::string> args, int want_rc, const std::string& schema,
                              const fs::path& cwd = source_dir(), bool db = true) {
    args.push_back("--json");
    if (db) args.insert(args.begin(), {"--db", url_});
    std::string shown;
    for (const auto& a : args) shown += " " + a;
    const RunResult r = run_cli(args, cwd);
    EXPECT_EQ(r.exit_code, want_rc) << "constraintctl" << shown << "\n" << r.err << r.out;
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(r.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "constraintctl" << shown << ": stdout is not JSON (" << e.what() << "):\n" << r.out;
      return doc;
    }
    const std::string problem = validate(dir_, r.out, schema);
    EXPECT_EQ(problem, "") << "constraintctl" << shown << ": the document does not validate against docs/schema/"
                           << schema << ".schema.json:\n"
                           << problem << "\ndocument:\n"
                           << r.out;
    EXPECT_EQ(doc.value("ok", true), r.exit_code == 0) << shown;
    return doc;
  }

  // A project directory holding a copy of schema/ and, when asked, of migrations/.
  fs::path copy_project(const std::string& name, bool migrations) {
    const fs::path p = dir_ / name;
    fs::create_directories(p);
    fs::copy(source_dir() / "schema", p / "schema", fs::copy_options::recursive);
    if (migrations) fs::copy(source_dir() / "migrations", p / "migrations", fs::copy_options::recursive);
    return p;
  }
};

TEST_P(JsonSchemaTest, EveryCommandsDocumentValidatesThroughTheLifeCycle) {
  // The fixture as it comes: violating rows, 0001 pending.
  auto scan = expect_valid({"scan"}, 1, "scan");
  EXPECT_GT(scan["summary"]["violations"], 0);
  expect_valid({"scan", "--table", "humans", "--sample", "0"}, 1, "scan");
  auto st = expect_valid({"status"}, 0, "status");
  EXPECT_EQ(st["pending"], 1);
  expect_valid({"status", "--check"}, 1, "status");
  expect_valid({"generate", "--check"}, 0, "generate");
  auto nothing = expect_valid({"verify"}, 0, "verify");
  EXPECT_EQ(nothing["version"], 0);
  expect_valid({"health"}, 0, "health");
  expect_valid({"health", "--fail-under", "90"}, 1, "health");
  auto would_refuse = expect_valid({"apply", "--dry-run"}, 1, "apply");
  EXPECT_EQ(would_refuse["refused"], true);
  EXPECT_EQ(would_refuse["dry_run"], true);
  auto refused = expect_valid({"apply"}, 1, "apply");
  EXPECT_EQ(refused["refused"], true);

  // Repairs: the dry run, then the real one.
  auto preview = expect_valid({"scan", "--fix", "--dry-run"}, 0, "scan-fix");
  EXPECT_EQ(preview["dry_run"], true);
  EXPECT_FALSE(preview["fixes"].empty());
  auto fixed = expect_valid({"scan", "--fix"}, 0, "scan-fix");
  ASSERT_TRUE(fixed["run_id"].is_string()) << fixed.dump(2);
  auto nothing_to_fix = expect_valid({"scan", "--fix"}, 0, "scan-fix");
  EXPECT_FALSE(nothing_to_fix.contains("run_id"));
  expect_valid({"scan"}, 0, "scan");

  // Migrations: dry run, apply, nothing left to apply.
  auto plan = expect_valid({"apply", "--dry-run"}, 0, "apply");
  EXPECT_FALSE(plan.contains("refused"));
  EXPECT_TRUE(plan["script"].is_string());
  auto applied = expect_valid({"apply"}, 0, "apply");
  EXPECT_EQ(applied["steps"].size(), 1u) << applied.dump(2);
  expect_valid({"apply"}, 0, "apply");
  expect_valid({"status", "--check"}, 0, "status");
  auto verified = expect_valid({"verify"}, 0, "verify");
  EXPECT_FALSE(verified["constraints"].empty());
  expect_valid({"verify", "--strict"}, 0, "verify");
  expect_valid({"health", "--fail-under", "90"}, 0, "health");

  // drop-checks: dry run, the real one, nothing left to drop; verify sees
  // them dropped; apply restores them.
  auto would_drop = expect_valid({"drop-checks", "--dry-run", "--constraint", "humans_age_range"}, 0, "drop-checks");
  EXPECT_EQ(would_drop["dropped"].size(), 1u) << would_drop.dump(2);
  auto dropped = expect_valid({"drop-checks", "--constraint", "humans_age_range"}, 0, "drop-checks");
  EXPECT_EQ(dropped["dropped"].size(), 1u) << dropped.dump(2);
  // Nothing left to drop there: an empty list; the same check again: an error.
  auto none = expect_valid({"drop-checks", "--dry-run", "--table", "st_relationships"}, 0, "drop-checks");
  EXPECT_TRUE(none["dropped"].empty()) << none.dump(2);
  expect_valid({"drop-checks", "--table", "st_relationships"}, 0, "drop-checks");
  expect_valid({"drop-checks", "--dry-run", "--constraint", "humans_age_range"}, 2, "error");
  expect_valid({"drop-checks", "--constraint", "humans_age_range"}, 2, "error");
  auto after_drop = expect_valid({"verify"}, 0, "verify");
  bool saw_dropped = false;
  for (const auto& c : after_drop["constraints"]) saw_dropped = saw_dropped || c["status"] == "dropped";
  EXPECT_TRUE(saw_dropped) << after_drop.dump(2);
  expect_valid({"health"}, 0, "health");
  expect_valid({"apply", "--dry-run"}, 0, "apply");
  auto restored = expect_valid({"apply"}, 0, "apply");
  EXPECT_FALSE(restored["restored"].empty()) << restored.dump(2);

  if (pg()) {
    // A finding: a constraint removed behind constraintctl's back.
    exec("ALTER TABLE humans DROP CONSTRAINT humans_age_range");
    auto missing = expect_valid({"verify"}, 1, "verify");
    EXPECT_GT(missing["failures"], 0);
    expect_valid({"health"}, 0, "health");
    expect_valid({"apply"}, 0, "apply");
  }

  // Rollback: dry run and real; then the fix undone.
  expect_valid({"rollback", "--to", "0", "--dry-run"}, 0, "apply");
  auto rolled = expect_valid({"rollback", "--to", "0"}, 0, "apply");
  EXPECT_EQ(rolled["command"], "rollback");
  expect_valid({"status"}, 0, "status");
  auto undone = expect_valid({"fix-undo", fixed["run_id"].get<std::string>()}, 0, "fix-undo");
  EXPECT_GT(undone["restored"].get<int>() + undone["reinserted"].get<int>(), 0) << undone.dump(2);
  expect_valid({"scan"}, 1, "scan");
}

TEST_P(JsonSchemaTest, GenerateDocumentsValidate) {
  // No database: database and dialect are null.
  const fs::path fresh = copy_project("fresh", false);
  auto none = expect_valid({"generate", "--check"}, 1, "generate", fresh, /*db=*/false);
  EXPECT_TRUE(none["database"].is_null());
  EXPECT_FALSE(none["schema_changes_not_in_migrations"].empty());
  auto written = expect_valid({"generate"}, 0, "generate", fresh, false);
  EXPECT_TRUE(written["written"].is_string()) << written.dump(2);
  auto again = expect_valid({"generate"}, 0, "generate", fresh, false);
  EXPECT_TRUE(again["written"].is_null());
  expect_valid({"generate", "--check"}, 0, "generate", fresh);
}

TEST_P(JsonSchemaTest, StatusAndVerifyWithHistoryProblemsValidate) {
  const fs::path project = copy_project("edited", true);
  expect_valid({"apply", "--fix"}, 0, "apply", project);
  const fs::path file = project / "migrations/0001_initial.toml";
  write_file(file, read_file(file) + "\n# edited after it was applied\n");
  auto edited = expect_valid({"status"}, 1, "status", project);
  EXPECT_EQ(edited["migrations"][0]["state"], "edited") << edited.dump(2);
  auto verified = expect_valid({"verify"}, 1, "verify", project);
  EXPECT_FALSE(verified["problems"].empty()) << verified.dump(2);
  fs::remove(file);
  auto missing = expect_valid({"status"}, 1, "status", project);
  EXPECT_EQ(missing["migrations"][0]["state"], "missing_file") << missing.dump(2);
  expect_valid({"health"}, 0, "health", project);
}

TEST_P(JsonSchemaTest, ErrorDocumentsValidate) {
  // A schema file with a bad expression: a positioned problem.
  const fs::path bad = dir_ / "bad";
  write_file(bad / "schema/t.toml", "table = \"t\"\n[[check]]\nname = \"c\"\nexpr = \"x > 0); DROP TABLE canary; --\"\n");
  auto schema_error = expect_valid({"scan"}, 2, "error", bad);
  EXPECT_FALSE(schema_error["error"]["problems"].empty()) << schema_error.dump(2);
  expect_valid({"verify"}, 0, "verify", bad);  // verify works from migrations/ (none here)
  expect_valid({"health"}, 2, "error", bad);
  // A missing SQLite file (or, on PostgreSQL, a database that does not exist).
  const std::string gone = pg() ? url_.substr(0, url_.rfind('/')) + "/no_such_db_json_schema"
                                : "sqlite:" + (dir_ / "missing.db").string();
  for (const char* command : {"scan", "status", "verify", "health", "apply", "drop-checks"}) {
    auto e = expect_valid({"--db", gone, command}, 3, "error", source_dir(), false);
    EXPECT_EQ(e["command"], command);
    EXPECT_TRUE(e["error"].contains("database")) << e.dump(2);  // what the database said, for scripts
  }
  auto undo = expect_valid({"fix-undo", "no-such-run"}, 2, "error");
  EXPECT_EQ(undo["command"], "fix-undo");
  // Usage errors: an unknown command (command null), a bad option value.
  auto unknown = expect_valid({"scna"}, 2, "error", source_dir(), false);
  EXPECT_TRUE(unknown["command"].is_null());
  expect_valid({"scan", "--sample", "abc"}, 2, "error");
  expect_valid({"rollback"}, 2, "error");
}

// The validator is not vacuous: it reads the shared definitions through
// $ref and rejects a document that breaks what the schemas promise.
TEST_P(JsonSchemaTest, InspectDocumentsValidate) {
  exec("CREATE UNIQUE INDEX humans_id_age_u ON humans (id, age)");
  const fs::path project = dir_ / "inspected";
  fs::create_directories(project);
  auto dry = expect_valid({"inspect", "--dry-run", "--table", "humans"}, 0, "inspect", project);
  EXPECT_EQ(dry["dry_run"], true);
  EXPECT_TRUE(dry["baseline"]["toml"].is_string()) << dry.dump(2);
  auto written = expect_valid({"inspect"}, 0, "inspect", project);
  EXPECT_GE(written["adopted_recorded"], 1);
  expect_valid({"inspect"}, 2, "error", project);  // never overwrites without --force
  auto plan = expect_valid({"apply", "--dry-run"}, 0, "apply", project);
  EXPECT_FALSE(plan["steps"][0]["adopted"].empty()) << plan.dump(2);
}

TEST(JsonSchemaValidator, RejectsDocumentsThatBreakTheSchema) {
  if (!validator_available()) GTEST_FAIL() << validator << " cannot import jsonschema: install python3-jsonschema";
  TempDir tmp;
  const std::string envelope = R"("format_version": 1, "command": "verify", "database": "sqlite:x.db", "dialect": "sqlite")";
  const std::string good = "{" + envelope + R"(, "ok": true, "version": 1, "constraints": [
      {"table": "t", "name": "t_x", "kind": "check", "status": "ok"}], "unmanaged": [], "problems": [], "failures": 0,
      "strict": false})";
  EXPECT_EQ(validate(tmp, good, "verify"), "");
  const std::string bad_status = "{" + envelope + R"(, "ok": true, "version": 1, "constraints": [
      {"table": "t", "name": "t_x", "kind": "check", "status": "fine"}], "unmanaged": [], "problems": [], "failures": 0,
      "strict": false})";
  EXPECT_NE(validate(tmp, bad_status, "verify").find("'fine' is not one of"), std::string::npos);
  const std::string bad_kind = "{" + envelope + R"(, "ok": true, "version": 1, "constraints": [
      {"table": "t", "name": "t_x", "kind": "exclusion", "status": "ok"}], "unmanaged": [], "problems": [], "failures": 0,
      "strict": false})";
  EXPECT_NE(validate(tmp, bad_kind, "verify"), "");
  // The envelope comes from common.schema.json: a wrong format_version fails.
  const std::string bad_envelope = R"({"format_version": 2, "command": "fix-undo", "database": "sqlite:x.db",
      "dialect": "sqlite", "ok": true, "run_id": "r", "restored": 1, "reinserted": 0})";
  EXPECT_NE(validate(tmp, bad_envelope, "fix-undo"), "");
  EXPECT_NE(validate(tmp, R"({"format_version": 1, "command": "scan", "ok": false, "error": {"code": 1}})", "error"), "");
}

INSTANTIATE_TEST_SUITE_P(Dialects, JsonSchemaTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace cc::test
