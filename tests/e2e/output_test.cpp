// What users and CI systems read from the binary (issue 14): --check exit
// codes, usage messages and suggestions, aligned and escaped text, the CI
// formats (JUnit, GitHub annotations, Prometheus) parsed by real parsers or
// checked against their documented grammar, and the JSON envelope.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include <sys/wait.h>
#include <sstream>

#include "support/test_support.h"

namespace cc::test {
namespace {

// A one-table project: t(id, x, s) with a CHECK on x (min 0).
struct SmallProject {
  TempDir dir;
  SmallProject(const std::string& rows = "INSERT INTO t VALUES (1, 5, 'ok');") {
    shell("sqlite3 " + (dir / "app.db").string() + " \"CREATE TABLE t (id INTEGER PRIMARY KEY, x INT, s TEXT); " +
          rows + "\"");
    write_file(dir / "schema/t.toml",
               "table = \"t\"\n\n[[check]]\nname = \"t_x_nonnegative\"\ncolumn = \"x\"\nmin = 0\n");
    write_file(dir / "constraintctl.toml", "database = \"sqlite:app.db\"\n");
  }
  RunResult cli(const std::vector<std::string>& args) const { return run_cli(args, dir.path()); }
  size_t migration_files() const {
    if (!std::filesystem::exists(dir / "migrations")) return 0;
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir / "migrations"), {}));
  }
};

TEST(CheckOption, GenerateCheckExitsOneWithUnsavedChangesAndWritesNothing) {
  SmallProject p;
  auto r = p.cli({"generate", "--check"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("add_check t.t_x_nonnegative"), std::string::npos) << r.out;
  EXPECT_EQ(p.migration_files(), 0u);
  auto j = p.cli({"generate", "--check", "--json"});
  EXPECT_EQ(j.exit_code, 1);
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["operations"], 1);
  EXPECT_EQ(p.migration_files(), 0u);

  ASSERT_EQ(p.cli({"generate"}).exit_code, 0);
  ASSERT_EQ(p.migration_files(), 1u);
  auto clean = p.cli({"generate", "--check"});
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_EQ(p.cli({"generate", "--check", "-q"}).out, "");
  EXPECT_EQ(p.migration_files(), 1u);
}

TEST(CheckOption, StatusCheckExitCodes) {
  SmallProject p;
  // Unsaved schema change, nothing generated: plain status is consistent, --check is not.
  EXPECT_EQ(p.cli({"status"}).exit_code, 0);
  auto unsaved = p.cli({"status", "--check"});
  EXPECT_EQ(unsaved.exit_code, 1) << unsaved.err;
  ASSERT_EQ(p.cli({"generate"}).exit_code, 0);
  // Pending migration.
  EXPECT_EQ(p.cli({"status"}).exit_code, 0);
  auto pending = p.cli({"status", "--check", "--json"});
  EXPECT_EQ(pending.exit_code, 1);
  EXPECT_EQ(nlohmann::json::parse(pending.out)["pending"], 1);
  EXPECT_EQ(nlohmann::json::parse(pending.out)["ok"], false);
  // Applied and up to date.
  ASSERT_EQ(p.cli({"apply"}).exit_code, 0);
  auto ok = p.cli({"status", "--check"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_EQ(p.cli({"status", "--check", "-q"}).out, "");
  // An applied file edited afterwards: inconsistent history, 1 with or without --check.
  const auto file = std::filesystem::directory_iterator(p.dir / "migrations")->path();
  std::ofstream(file, std::ios::app) << "\n# edited\n";
  EXPECT_EQ(p.cli({"status"}).exit_code, 1);
  auto edited = p.cli({"status", "--check", "-q"});
  EXPECT_EQ(edited.exit_code, 1);
  EXPECT_NE(edited.out.find("edited"), std::string::npos) << edited.out;
}

TEST(CheckOption, StatusCheckOnTheReferenceFixture) {
  TempDir dir;
  make_sqlite_fixture(dir / "f.db", 1000);
  const std::string db = "sqlite:" + (dir / "f.db").string();
  EXPECT_EQ(run_cli({"--db", db, "status", "--check"}).exit_code, 1);    // 0001 pending
  EXPECT_EQ(run_cli({"--db", db, "generate", "--check"}).exit_code, 0);  // migrations/ holds schema/
  ASSERT_EQ(run_cli({"--db", db, "apply", "--fix", "-q"}).exit_code, 0);
  EXPECT_EQ(run_cli({"--db", db, "status", "--check"}).exit_code, 0);
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TEST(Usage, DidYouMeanForCommandsAndOptions) {
  auto cmd = run_cli({"scna"});
  EXPECT_EQ(cmd.exit_code, 2);
  EXPECT_TRUE(starts_with(cmd.err, "constraintctl: error: unknown command 'scna'; did you mean 'scan'?")) << cmd.err;
  auto far = run_cli({"frobnicate"});
  EXPECT_EQ(far.exit_code, 2);
  EXPECT_EQ(far.err.find("did you mean"), std::string::npos) << far.err;
  EXPECT_NE(far.err.find("commands: scan,"), std::string::npos) << far.err;
  auto opt = run_cli({"scan", "--jsno"});
  EXPECT_EQ(opt.exit_code, 2);
  EXPECT_TRUE(starts_with(opt.err, "constraintctl: error: unknown option '--jsno' for 'scan'; did you mean '--json'?"))
      << opt.err;
  auto sub_opt = run_cli({"--db", "sqlite:x.db", "drop-checks", "--tabel", "humans"});
  EXPECT_NE(sub_opt.err.find("did you mean '--table'?"), std::string::npos) << sub_opt.err;
  auto stat = run_cli({"status", "--chekc"});
  EXPECT_NE(stat.err.find("did you mean '--check'?"), std::string::npos) << stat.err;
}

TEST(Usage, EveryUsageErrorHasThePrefix) {
  // CLI11's own parse errors, the project's usage errors, a missing command.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{{},
                                                                                    {"scan", "--sample", "abc"},
                                                                                    {"scan", "--sample", "-3"},
                                                                                    {"rollback"},
                                                                                    {"fix-undo"},
                                                                                    {"scan", "--dry-run"},
                                                                                    {"health", "--format", "yaml"},
                                                                                    {"apply", "--format", "junit"}}) {
    auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(starts_with(r.err, "constraintctl: error: ")) << r.err;
    EXPECT_EQ(r.out, "");
  }
  auto fmt = run_cli({"scan", "--format", "prometheus"});
  EXPECT_NE(fmt.err.find("valid: text, json, github, junit)"), std::string::npos) << fmt.err;
  EXPECT_EQ(run_cli({"--help"}).err, "");
}

TEST(Usage, BarePathHintsAtSqliteScheme) {
  auto r = run_cli({"--db", "app.db", "scan"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean sqlite:app.db?"), std::string::npos) << r.err;
}

TEST(Usage, BadPolicyListsTheValidOnes) {
  SmallProject p;
  auto r = p.cli({"scan", "--fix", "--policy", "t_x_nonnegative=clampp"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown policy 'clampp' (valid: clamp, delete, delete_duplicates, report, set, set_default, "
                       "set_expr, set_null)"),
            std::string::npos)
      << r.err;
}

TEST(Quiet, StatusHealthGeneratePrintOnlyProblems) {
  SmallProject p;
  ASSERT_EQ(p.cli({"generate", "-q"}).out, "");  // written, nothing to say
  auto pending = p.cli({"status", "-q"});
  EXPECT_EQ(pending.out, "version 1 (initial): pending\n");
  ASSERT_EQ(p.cli({"apply", "-q"}).exit_code, 0);
  EXPECT_EQ(p.cli({"status", "-q"}).out, "");
  EXPECT_EQ(p.cli({"health", "-q"}).out, "");
  EXPECT_EQ(p.cli({"generate", "-q"}).out, "");
  auto full = p.cli({"health"});
  EXPECT_NE(full.out.find("health 100/100"), std::string::npos) << full.out;
  EXPECT_NE(p.cli({"status"}).out.find("initial"), std::string::npos);
}

// Columns as a terminal shows them: code points here (no wide characters).
size_t column_of(const std::string& line, const std::string& word) {
  const size_t at = line.find(word);
  if (at == std::string::npos) return std::string::npos;
  size_t cols = 0;
  for (size_t i = 0; i < at; ++i) cols += (static_cast<unsigned char>(line[i]) & 0xC0) != 0x80 ? 1 : 0;
  return cols;
}

TEST(Text, TablesAlignByDisplayWidth) {
  TempDir dir;
  shell("sqlite3 " + (dir / "u.db").string() +
        " \"CREATE TABLE \\\"Bücher\\\" (id INTEGER PRIMARY KEY, n INT); CREATE TABLE books (id INTEGER PRIMARY KEY, n "
        "INT);"
        " INSERT INTO \\\"Bücher\\\" VALUES (1, -1); INSERT INTO books VALUES (1, -1);\"");
  write_file(dir / "schema/a.toml", "table = \"Bücher\"\n[[check]]\nname = \"bücher_n\"\ncolumn = \"n\"\nmin = 0\n");
  write_file(dir / "schema/b.toml", "table = \"books\"\n[[check]]\nname = \"books_n\"\ncolumn = \"n\"\nmin = 0\n");
  auto r = run_cli({"--db", "sqlite:u.db", "scan"}, dir.path());
  ASSERT_EQ(r.exit_code, 1) << r.err;
  std::istringstream lines(r.out);
  std::vector<std::string> rows;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("_n ") != std::string::npos) rows.push_back(line);
  }
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_EQ(column_of(rows[0], "_n"), column_of(rows[1], "_n") + 1) << r.out;  // "bücher" is one longer than "books"
  EXPECT_EQ(column_of(rows[0], "check"), column_of(rows[1], "check")) << r.out;
  EXPECT_EQ(column_of(rows[0], "no"), column_of(rows[1], "no")) << r.out;
}

TEST(Text, ControlCharactersInValuesAreEscaped) {
  SmallProject p("INSERT INTO t VALUES (1, 5, 'ok'), (2, -1, 'x');");
  write_file(p.dir / "schema/t.toml",
             "table = \"t\"\n\n[[check]]\nname = \"t_s_valid\"\ncolumn = \"s\"\nin = [\"ok\"]\nrepair = { policy = "
             "\"set\", value = \"ok\" }\n");
  shell("sqlite3 " + (p.dir / "app.db").string() +
        " \"UPDATE t SET s = 'a' || char(27) || ']0;pwned' || char(7) || char(10) || 'b' WHERE id = 2\"");
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"scan", "--verbose"}, {"scan", "--fix", "--dry-run"}}) {
    auto r = p.cli(args);
    // scan finds the violation; the fix's dry run exits as the fix would: repaired.
    EXPECT_EQ(r.exit_code, args.size() == 2 && args[1] == "--verbose" ? 1 : 0) << r.err;
    EXPECT_EQ(r.out.find('\033'), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find('\007'), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("a\\x1b]0;pwned\\x07\\nb"), std::string::npos) << r.out;
  }
}

// ---- CI formats ---------------------------------------------------------

std::string capture(const std::string& command) {
  std::string out;
  FILE* f = popen(command.c_str(), "r");
  if (!f) return out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  pclose(f);
  return out;
}

class CiFormats : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    make_sqlite_fixture(*dir_ / "f.db", 1000);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string db() { return "sqlite:" + (*dir_ / "f.db").string(); }
  static std::filesystem::path save(const std::string& name, const std::string& text) {
    write_file(*dir_ / name, text);
    return *dir_ / name;
  }
  static TempDir* dir_;
};
TempDir* CiFormats::dir_ = nullptr;

std::string xpath(const std::filesystem::path& file, const std::string& expr) {
  std::string out = capture("xmllint --xpath '" + expr + "' " + file.string() + " 2>&1");
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

TEST_F(CiFormats, JunitIsValidXmlWithOneTestcasePerConstraint) {
  auto r = run_cli({"--db", db(), "scan", "--format", "junit"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto file = save("scan.xml", r.out);
  ASSERT_EQ(capture("xmllint --noout " + file.string() + " 2>&1; echo rc=$?"), "rc=0\n") << r.out;
  EXPECT_EQ(xpath(file, "count(/testsuites/testsuite/testcase)"), "25");
  EXPECT_EQ(xpath(file, "count(//testcase/failure)"), "25");
  EXPECT_EQ(xpath(file, "string(/testsuites/testsuite/@failures)"), "25");
  EXPECT_EQ(xpath(file, "string(//testcase[@name=\"humans_age_range\"]/@classname)"), "humans");
  EXPECT_EQ(xpath(file, "string(//testcase[@name=\"humans_age_range\"]/@file)"), "schema/humans.toml");

  auto v = run_cli({"--db", db(), "verify", "--format", "junit"});
  EXPECT_EQ(v.exit_code, 0);  // nothing applied yet: nothing expected
  const auto vfile = save("verify.xml", v.out);
  ASSERT_EQ(capture("xmllint --noout " + vfile.string() + " 2>&1; echo rc=$?"), "rc=0\n") << v.out;
  auto st = run_cli({"--db", db(), "status", "--check", "--format", "junit"});
  EXPECT_EQ(st.exit_code, 1);
  const auto sfile = save("status.xml", st.out);
  EXPECT_EQ(xpath(sfile, "string(//testcase[@name=\"0001_initial\"]/failure/@message)"),
            "version 1 (initial) is pending");
  auto h = run_cli({"--db", db(), "health", "--format", "junit"});
  const auto hfile = save("health.xml", h.out);
  ASSERT_EQ(capture("xmllint --noout " + hfile.string() + " 2>&1; echo rc=$?"), "rc=0\n") << h.out;
}

TEST_F(CiFormats, GithubAnnotationsFollowTheWorkflowCommandSyntax) {
  auto r = run_cli({"--db", db(), "scan", "--format", "github"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  // ::error file=F,line=L,col=C,title=T::message with %, CR, LF escaped in
  // the message and also : and , in the properties (GitHub's docs).
  static const std::regex annotation(
      R"(^::(error|warning|notice)( ([a-z]+=[^,:\r\n]*)(,[a-z]+=[^,:\r\n]*)*)?::[^\r\n]*$)");
  static const std::regex props(R"(file=([^,]+),line=(\d+),col=(\d+),title=constraintctl scan%3A ([^,:]+)::)");
  std::istringstream lines(r.out);
  int errors = 0;
  for (std::string line; std::getline(lines, line);) {
    EXPECT_TRUE(std::regex_match(line, annotation)) << line;
    if (line.rfind("::error", 0) != 0) continue;
    ++errors;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(line, m, props)) << line;
    // The annotation points at the constraint's declaration in schema/.
    std::ifstream schema(source_dir() / m[1].str());
    ASSERT_TRUE(schema) << m[1];
    std::vector<std::string> file_lines;
    for (std::string l; std::getline(schema, l);) file_lines.push_back(l);
    const size_t at = std::stoul(m[2]);
    ASSERT_LT(at + 1, file_lines.size() + 1);
    EXPECT_TRUE(file_lines[at - 1] == "[[check]]" || file_lines[at - 1] == "[[unique]]") << line;
    EXPECT_EQ(file_lines[at], "name = \"" + m[4].str() + "\"") << line;
  }
  EXPECT_EQ(errors, 25);
  EXPECT_NE(r.out.find("::notice title=constraintctl scan::25 of 25 constraints violated"), std::string::npos) << r.out;
}

// The text exposition format (prometheus.io/docs/instrumenting/exposition_formats):
// # HELP name text, # TYPE name gauge, then name{label="value",...} number.
void expect_prometheus_grammar(const std::string& text) {
  static const std::regex help(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$)");
  static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  static const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\\n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\\n])*")*\})? -?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$)");
  std::istringstream lines(text);
  std::string family;
  std::set<std::string> seen;
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      family = m[1];
      EXPECT_TRUE(seen.insert(family).second) << "family twice: " << family;
    } else if (std::regex_match(line, m, type)) {
      EXPECT_EQ(m[1], family) << line;
    } else {
      ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
      EXPECT_EQ(m[1], family) << "sample outside its family: " << line;
    }
  }
}

TEST_F(CiFormats, HealthPrometheusTextfile) {
  auto r = run_cli({"--db", db(), "health", "--format", "prometheus"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  expect_prometheus_grammar(r.out);
  for (const char* metric : {"constraintctl_health_score{", "constraintctl_table_health_score{",
                             "constraintctl_constraint_violations{", "constraintctl_verify_failures{",
                             "constraintctl_pending_migrations{", "constraintctl_last_run_timestamp_seconds{"}) {
    EXPECT_NE(r.out.find(metric), std::string::npos) << metric;
  }
  EXPECT_NE(r.out.find("constraint=\"humans_age_range\",kind=\"check\"} "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("constraintctl_pending_migrations{database=\"" + db() + "\"} 1\n"), std::string::npos) << r.out;
  // promtool (Debian's prometheus package) is the reference linter when installed.
  if (std::system("command -v promtool >/dev/null") == 0) {
    const auto file = save("health.prom", r.out);
    EXPECT_EQ(capture("promtool check metrics < " + file.string() + " 2>&1; echo rc=$?"), "rc=0\n");
  } else if (std::getenv("CI")) {
    ADD_FAILURE() << "promtool is not installed (scripts/setup installs prometheus)";
  }
  EXPECT_EQ(run_cli({"--db", db(), "scan", "--format", "prometheus"}).exit_code, 2);
}

// ---- JSON envelope --------------------------------------------------------

void expect_envelope(const nlohmann::json& doc, const std::string& command, bool ok) {
  EXPECT_EQ(doc["format_version"], 1) << doc.dump();
  EXPECT_EQ(doc["command"], command) << doc.dump();
  EXPECT_EQ(doc["ok"], ok) << doc.dump();
  EXPECT_TRUE(doc.contains("database")) << doc.dump();
  EXPECT_TRUE(doc.contains("dialect")) << doc.dump();
}

TEST(JsonEnvelope, EveryCommandCarriesIt) {
  TempDir dir;
  make_sqlite_fixture(dir / "f.db", 1000);
  const std::string db = "sqlite:" + (dir / "f.db").string();
  auto json_of = [&](std::vector<std::string> args, int want_rc) {
    args.insert(args.begin(), {"--db", db});
    args.push_back("--json");
    auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, want_rc) << r.err;
    return nlohmann::json::parse(r.out);
  };
  auto scan = json_of({"scan"}, 1);
  expect_envelope(scan, "scan", false);
  EXPECT_EQ(scan["database"], db);
  EXPECT_EQ(scan["dialect"], "sqlite");
  for (const auto& c : scan["constraints"]) {
    for (const char* key : {"table", "name", "kind", "violations"}) EXPECT_TRUE(c.contains(key)) << key;
  }
  expect_envelope(json_of({"status"}, 0), "status", true);
  expect_envelope(json_of({"generate", "--check"}, 0), "generate", true);
  expect_envelope(json_of({"verify"}, 0), "verify", true);  // nothing applied, nothing expected
  expect_envelope(json_of({"health", "--fail-under", "90"}, 1), "health", false);
  auto refused = json_of({"apply"}, 1);
  expect_envelope(refused, "apply", false);
  EXPECT_EQ(refused["refused"], true);
  auto fixed = json_of({"scan", "--fix"}, 0);
  expect_envelope(fixed, "scan --fix", true);
  EXPECT_TRUE(fixed["run_id"].is_string());
  expect_envelope(json_of({"apply"}, 0), "apply", true);
  auto verified = json_of({"verify"}, 0);
  expect_envelope(verified, "verify", true);
  for (const auto& c : verified["constraints"]) EXPECT_EQ(c["status"], "ok");
  auto health = json_of({"health"}, 0);
  expect_envelope(health, "health", true);
  EXPECT_EQ(health["score"], 100);
  expect_envelope(json_of({"drop-checks", "--constraint", "humans_age_range"}, 0), "drop-checks", true);
  expect_envelope(json_of({"rollback", "--to", "0"}, 0), "rollback", true);
  expect_envelope(json_of({"fix-undo", fixed["run_id"]}, 0), "fix-undo", true);
  // --format json is --json.
  auto same = run_cli({"--db", db, "status", "--format", "json"});
  expect_envelope(nlohmann::json::parse(same.out), "status", true);
}

TEST(JsonEnvelope, ErrorsAreJsonOnStdout) {
  TempDir dir;
  write_file(dir / "schema/t.toml",
             "table = \"t\"\n[[check]]\nname = \"c\"\nexpr = \"x > 0); DROP TABLE canary; --\"\n");
  auto r = run_cli({"--db", "sqlite:nowhere.db", "scan", "--json"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("constraintctl: error: "), std::string::npos);  // stderr still says it
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["format_version"], 1);
  EXPECT_EQ(doc["command"], "scan");
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["error"]["code"], 2);
  ASSERT_FALSE(doc["error"]["problems"].empty()) << doc.dump(2);
  const auto& p = doc["error"]["problems"][0];
  EXPECT_EQ(p["file"], "schema/t.toml");
  EXPECT_EQ(p["line"], 4);
  EXPECT_EQ(p["column"], 8);
  EXPECT_TRUE(p["message"].is_string());

  auto usage = run_cli({"--json", "scna"});
  EXPECT_EQ(usage.exit_code, 2);
  auto u = nlohmann::json::parse(usage.out);
  EXPECT_EQ(u["error"]["code"], 2);
  EXPECT_NE(u["error"]["message"].get<std::string>().find("did you mean 'scan'?"), std::string::npos);

  auto db_err =
      run_cli({"--db", "sqlite:" + (dir / "missing.db").string(), "--format", "json", "status"}, source_dir());
  EXPECT_EQ(db_err.exit_code, 3);
  auto d = nlohmann::json::parse(db_err.out);
  EXPECT_EQ(d["command"], "status");
  EXPECT_EQ(d["error"]["code"], 3);
  EXPECT_EQ(d["error"]["message"].get<std::string>().find("TopSecret"), std::string::npos);
}

}  // namespace
}  // namespace cc::test

namespace cc::test {
namespace {

// scripts/ci-lifecycle decides per fixture what each step must show.
TEST(CiLifecycle, CleanAndDirtyFixturesEachWithTheirOwnExpectations) {
  TempDir dir;
  make_sqlite_fixture(dir / "dirty.db", 1000);
  make_sqlite_fixture(dir / "clean.db", 1000);
  const std::string clean = "sqlite:" + (dir / "clean.db").string();
  const std::string dirty = "sqlite:" + (dir / "dirty.db").string();
  ASSERT_EQ(run_cli({"--db", clean, "scan", "--fix", "-q"}).exit_code, 0);
  write_file(dir / "clean.json", run_cli({"--db", clean, "scan", "--json"}).out);
  const std::string script = (source_dir() / "scripts/ci-lifecycle").string() + " --bin " + CONSTRAINTCTL_BIN;
  const std::string log = (dir / "log.txt").string();
  auto run = [&](const std::string& args) {
    const int rc =
        std::system(("cd " + source_dir().string() + " && " + script + " " + args + " > " + log + " 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  EXPECT_EQ(run("--expect " + (source_dir() / "fixtures/expected/1000.json").string() + " " + dirty + " --expect " +
                (dir / "clean.json").string() + " " + clean),
            0)
      << read_file(log);
  EXPECT_NE(read_file(log).find("every step passed on 2 database(s)"), std::string::npos) << read_file(log);
  // A clean fixture held to a dirty fixture's counts fails, with the difference.
  make_sqlite_fixture(dir / "clean2.db", 1000);
  ASSERT_EQ(run_cli({"--db", "sqlite:" + (dir / "clean2.db").string(), "scan", "--fix", "-q"}).exit_code, 0);
  EXPECT_EQ(run("--expect " + (source_dir() / "fixtures/expected/1000.json").string() +
                " sqlite:" + (dir / "clean2.db").string()),
            1)
      << read_file(log);
  EXPECT_NE(read_file(log).find("FAIL"), std::string::npos) << read_file(log);
}

}  // namespace
}  // namespace cc::test

namespace cc::test {
namespace {

TEST(JsonEnvelopePostgres, DatabaseIsScrubbedAndErrorsAreJson) {
  CC_REQUIRE_POSTGRES();
  PgDatabase db;
  db.load_fixture(1000);
  // The throwaway server trusts everyone: a password in the URL is ignored by
  // the server but must never be shown.
  std::string url = db.url();
  const auto at = url.find('@', url.find("://") + 3);
  ASSERT_NE(at, std::string::npos) << url;
  url.insert(at, ":Hidden-pw-9");
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"scan"}, {"status", "--check"}, {"verify"}, {"health"}}) {
    std::vector<std::string> full = {"--db", url, "--json"};
    full.insert(full.end(), args.begin(), args.end());
    auto r = run_cli(full);
    EXPECT_EQ(r.out.find("Hidden-pw-9"), std::string::npos) << r.out;
    auto doc = nlohmann::json::parse(r.out);
    EXPECT_EQ(doc["format_version"], 1);
    EXPECT_EQ(doc["command"], args[0]);
    EXPECT_EQ(doc["dialect"], "postgresql");
    EXPECT_NE(doc["database"].get<std::string>().find("***"), std::string::npos) << doc["database"];
    EXPECT_EQ(doc["ok"], r.exit_code == 0);
  }
  auto junit = run_cli({"--db", url, "scan", "--format", "junit"});
  EXPECT_EQ(junit.exit_code, 1);
  EXPECT_NE(junit.out.find("<testsuite name=\"constraintctl scan\" tests=\"25\" failures=\"25\""), std::string::npos)
      << junit.out;
  std::string gone = url.substr(0, url.rfind('/')) + "/no_such_db";
  auto err = run_cli({"--db", gone, "--json", "scan"});
  EXPECT_EQ(err.exit_code, 3);
  auto e = nlohmann::json::parse(err.out);
  EXPECT_EQ(e["error"]["code"], 3);
  EXPECT_EQ(err.out.find("Hidden-pw-9"), std::string::npos) << err.out;
  EXPECT_EQ(err.err.find("Hidden-pw-9"), std::string::npos) << err.err;
}

}  // namespace
}  // namespace cc::test
