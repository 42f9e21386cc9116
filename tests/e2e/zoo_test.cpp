// The zoo (issue 12 item 7): table shapes a real first database has, per dialect, beside the
// reference domain (fixtures/zoo/). On a fresh copy, the whole life cycle runs through the
// binary: scan (every count equals SQL written here by hand), scan --fix --dry-run (writes
// nothing), scan --fix, fix-undo (every row as before), scan --fix again, generate, apply,
// verify (no false finding, no probe scored ok that did not run), drop-checks (CHECKs gone,
// UNIQUEs and the user's own constraints kept), apply (restored), rollback --to 0 (only
// constraintctl's constraints gone; the user's constraints, triggers, views and indexes still
// there and enforced). No command may exit 3 (database error) or 70 (internal error).
//
// Every check reads the database with SQL written here, through the sqlite3 shell or libpq
// directly, never through constraintctl's driver. Each shape (a folder of fixtures/zoo/shapes/) is a test of its own,
// so a failure names its shape; "all" runs every shape together, as one project.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <libpq-fe.h>

#include "support/test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cc::test {
namespace {

fs::path zoo_dir() { return source_dir() / "fixtures/zoo"; }

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

// Runs a shell command, returns its stdout; `rc` gets the exit status.
std::string capture(const std::string& command, int* rc = nullptr) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) {
    if (rc) *rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  if (rc) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return out;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// What a schema/*.toml file declares, read with a few regexes (the zoo's files are simple).
struct Declared {
  std::string schema, table, name, kind;  // kind: check | unique
};

std::vector<Declared> read_declarations(const fs::path& file) {
  std::vector<Declared> out;
  std::string schema, table, kind;
  static const std::regex key(R"(^\s*(schema|table|name)\s*=\s*"((?:[^"\\]|\\.)*)\")");
  for (const auto& line : lines_of(read_file(file))) {
    std::smatch m;
    if (line.rfind("[[check]]", 0) == 0)
      kind = "check";
    else if (line.rfind("[[unique]]", 0) == 0)
      kind = "unique";
    else if (std::regex_search(line, m, key)) {
      std::string v = std::regex_replace(m[2].str(), std::regex(R"(\\(.))"), "$1");
      if (m[1] == "schema")
        schema = v;
      else if (m[1] == "table")
        table = v;
      else if (!kind.empty())
        out.push_back({schema, table, v, kind});
    }
  }
  return out;
}

std::vector<fs::path> toml_files(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".toml") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The shapes of a dialect: fixtures/zoo/shapes/{common,<dialect>}/<shape>/.
std::map<std::string, fs::path> shapes(const std::string& dialect) {
  std::map<std::string, fs::path> out;
  for (const std::string& group : {std::string("common"), dialect}) {
    const auto dir = zoo_dir() / "shapes" / group;
    if (!fs::exists(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory()) out[e.path().filename().string()] = e.path();
  }
  return out;
}

// Constraints that exist in the fixture before constraintctl runs, with the definition
// schema/ declares: they are adopted, and neither rollback nor an unnamed drop-checks may
// drop them.
const std::set<std::string> kAdopted = {"z_inline_qty_positive", "z_inline_code_unique"};

// SQL for the surplus rows of a UNIQUE: rows beyond one per key, keys with a NULL never count.
std::string dup_count(const std::string& table, const std::vector<std::string>& cols, const std::string& where = "") {
  std::string list, not_null;
  for (const auto& c : cols) {
    list += (list.empty() ? "" : ", ") + c;
    not_null += (not_null.empty() ? "" : " AND ") + c + " IS NOT NULL";
  }
  return "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM " + table + " WHERE " + not_null +
         (where.empty() ? "" : " AND (" + where + ")") + " GROUP BY " + list + " HAVING count(*) > 1) AS d";
}

// Hand-written counts, per constraint name: the rows that break it, as SQL.
std::map<std::string, std::string> hand_counts(bool pg) {
  std::map<std::string, std::string> c;
  auto bad = [](const std::string& table, const std::string& cond) {
    return "SELECT count(*) FROM " + table + " WHERE NOT (" + cond + ")";
  };
  c["z_composite_qty_range"] = bad("z_composite", "qty >= 0 AND qty <= 100");
  c["z_composite_note_unique"] = dup_count("z_composite", {"note"});
  c["z_textpk_status_valid"] = bad("z_textpk", "status IN ('new', 'live', 'old')");
  c["z_textpk_name_new_unique"] = dup_count("z_textpk", {"name"}, "status = 'new'");
  c["z_nopk_score_nonnegative"] = bad("z_nopk", "score >= 0");
  c["z_nopk_label_unique"] = dup_count("z_nopk", {"label"});
  c["z_generated_price_nonnegative"] = bad("z_generated", "price >= 0");
  c["z_generated_total_max"] = bad("z_generated", "price * qty <= 1000");
  c["z_collate_name_not_forbidden"] = bad("z_collate", "name <> 'forbidden'");  // the column's collation
  c["z_collate_name_unique"] = dup_count("z_collate", {"name"});
  c["z_collate_code_unique"] = dup_count("z_collate", {"code"});
  c["z_inline_qty_positive"] = bad("z_inline", "qty > 0");
  c["z_inline_code_unique"] = dup_count("z_inline", {"code"});
  c["z_inline_note_length"] = bad("z_inline", "length(note) <= 10");
  c["z_parent_name_unique"] = dup_count("z_parent", {"name"});
  c["z_child_cascade_v_nonnegative"] = bad("z_child_cascade", "v >= 0");
  c["z_child_setnull_v_range"] = bad("z_child_setnull", "v BETWEEN 0 AND 10");
  c["z_child_noaction_v_valid"] = bad("z_child_noaction", "v IN (1, 2, 3)");
  c["z_audited_qty_range"] = bad("z_audited", "qty BETWEEN 0 AND 50");
  // The reference rules on Django's tables.
  c["characters_xp_nonnegative"] = bad("characters", "xp >= 0");
  c["characters_status_valid"] = bad("characters", "status IN ('Un', 'Sub', 'App', 'Ret', 'Dec')");
  for (const char* col : {"strength", "dexterity", "stamina", "charisma", "manipulation", "appearance", "perception",
                          "intelligence", "wits"})
    c[std::string("attribute_blocks_") + col + "_range"] =
        bad("attribute_blocks", std::string(col) + " BETWEEN 1 AND 10");
  for (const char* col :
       {"alertness", "athletics", "brawl", "empathy", "expression", "intimidation", "streetwise", "subterfuge"})
    c[std::string("ability_blocks_") + col + "_range"] = bad("ability_blocks", std::string(col) + " BETWEEN 0 AND 10");
  c["humans_willpower_range"] = bad("humans", "willpower BETWEEN 1 AND 10");
  c["humans_temporary_willpower_range"] = bad("humans", "temporary_willpower BETWEEN 0 AND 10");
  c["humans_temporary_willpower_le_willpower"] = bad("humans", "temporary_willpower <= willpower");
  c["humans_age_range"] = bad("humans", "age BETWEEN 0 AND 500");
  c["humans_apparent_age_range"] = bad("humans", "apparent_age BETWEEN 0 AND 200");
  c["st_relationships_user_chronicle_gameline_unique"] =
      dup_count("st_relationships", {"user_id", "chronicle_id", "gameline"});
  if (pg) {
    c["z_t_enum_mood_not_sad"] = bad("z_t_enum", "mood IN ('ok', 'happy')");
    c["z_t_domain_d_max"] = bad("z_t_domain", "d <= 100");
    c["z_t_time_born_after_1900"] = bad("z_t_time", "born >= '1900-01-01'::date");
    c["z_t_time_seen_before_2100"] = bad("z_t_time", "seen < '2100-01-01 00:00:00+00'::timestamptz");
    c["z_t_numeric_price_range"] = bad("z_t_numeric", "price BETWEEN 0 AND 1000");
    c["z_t_json_doc_object"] = bad("z_t_json", "jsonb_typeof(doc) = 'object'");
    c["z_t_uuid_u_unique"] = dup_count("z_t_uuid", {"u"});
    c["z_t_bool_active_needs_qty"] = bad("z_t_bool", "NOT active OR qty > 0");
    c["z_t_array_tags_max3"] = bad("z_t_array", "cardinality(tags) <= 3");
    c["z_t_array_scores_nonnegative"] = bad("z_t_array", "0 <= ALL (scores)");
    c["z_events_v_nonnegative"] = bad("z_events", "v >= 0");
    c["z_events_region_code_unique"] = dup_count("z_events", {"region", "code"});
    c["order_lines_qty_positive"] = bad("\"Order Lines\"", "\"Qty\" >= 1");
    c["order_lines_qty_max"] = bad("\"Order Lines\"", "\"Qty\" <= 100");
    c["order_lines_order_ref_unique"] = dup_count("\"Order Lines\"", {"\"Order Ref\""});
    c["sales_orders_amount_nonnegative"] = bad("sales.orders", "amount >= 0");
    c["sales_orders_ref_unique"] = dup_count("sales.orders", {"ref"});
    c["archive_orders_amount_nonnegative"] = bad("archive.orders", "amount >= 0");
    c["archive_orders_ref_unique"] = dup_count("archive.orders", {"ref"});
  } else {
    c["z_without_rowid_v_range"] = bad("z_without_rowid", "v BETWEEN 0 AND 10");
    c["z_strict_amount_range"] = bad("z_strict", "amount BETWEEN -100 AND 100");
    c["z_strict_label_valid"] = bad("z_strict", "label IN ('a', 'b')");
    c["z_autoinc_n_range"] = bad("z_autoinc", "n BETWEEN 0 AND 10");
    c["z_mixedcase_val_nonnegative"] = bad("\"Z_MixedCase\"", "\"Val\" >= 0");
  }
  return c;
}

// The sample values a scan must show for typed columns (any one of the alternatives), as
// the database holds them: exact numeric text, true/false, enum labels, dates, uuids.
const std::map<std::string, std::vector<std::string>> kSampleValues = {
    {"z_t_numeric_price_range", {"\"-1.50\"", "\"1234.56\""}},
    {"z_t_bool_active_needs_qty", {"\"active\":true", "\"active\":\"true\"", "\"active\":\"t\""}},
    {"z_t_enum_mood_not_sad", {"\"sad\""}},
    {"z_t_time_born_after_1900", {"1850-01-01"}},
    {"z_t_uuid_u_unique", {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}},
    {"z_t_json_doc_object", {"[1, 2]", "[1,2]"}},
    {"z_t_array_tags_max3", {"{a,b,c,d}", "[\"a\",\"b\",\"c\",\"d\"]"}},
};

// A write that the user's own schema must refuse, before and after everything
// constraintctl does. `table` ties it to a shape.
struct Refusal {
  std::string table, what, sql;
  bool pg = true, sqlite = true;
};

std::vector<Refusal> user_refusals() {
  return {
      {"z_inline", "inline CHECK z_inline_qty_positive", "INSERT INTO z_inline VALUES (10, 'q', 0, NULL)"},
      {"z_inline", "inline CHECK z_inline_code_not_empty (unmanaged)", "INSERT INTO z_inline VALUES (11, '', 1, NULL)"},
      {"z_inline", "inline UNIQUE z_inline_code_unique", "INSERT INTO z_inline VALUES (12, 'a', 1, NULL)"},
      {"z_textpk", "partial unique index z_textpk_live_price_uq",
       "INSERT INTO z_textpk VALUES ('Z-9', 'Zed', 'live', 30)"},
      {"z_textpk", "text primary key", "INSERT INTO z_textpk VALUES ('A-1', 'Again', 'new', 1)"},
      {"z_composite", "composite primary key", "INSERT INTO z_composite VALUES ('eu', 1, 1, NULL)"},
      {"z_child_noaction", "FK ON DELETE NO ACTION", "DELETE FROM z_parent WHERE id = 1"},
      {"z_child_cascade", "FK of z_child_cascade", "INSERT INTO z_child_cascade VALUES (90, 999, 1)"},
      {"z_audited", "BEFORE DELETE trigger z_audited_guard_delete", "DELETE FROM z_audited WHERE id = 2"},
      {"z_generated", "generated column", "INSERT INTO z_generated (price, qty, total) VALUES (1, 1, 1)"},
      {"humans", "Django's CHECK (age >= 0)", "UPDATE humans SET age = -1 WHERE id = 1"},
      {"humans", "Django's OneToOne UNIQUE (character_id)", "UPDATE humans SET character_id = 2 WHERE id = 1"},
      {"humans", "Django's deferred FK humans.character_id",
       "INSERT INTO humans (id, willpower, temporary_willpower, age, apparent_age, character_id) VALUES (99, 5, 1, 1, "
       "1, 999)"},
      {"z_t_domain", "domain CHECK z_posint_positive", "INSERT INTO z_t_domain VALUES (99, 0)", true, false},
      {"z_events", "partition bounds", "INSERT INTO z_events VALUES (99, 'apac', 'a', 1)", true, false},
      {"z_strict", "STRICT column type", "INSERT INTO z_strict VALUES (9, 'abc', 'a', 1.0, NULL, NULL)", false, true},
      {"z_without_rowid", "WITHOUT ROWID primary key", "INSERT INTO z_without_rowid VALUES ('a', 1, 1)", false, true},
  };
}

// One libpq connection (psql costs ~70 ms a start here), kept idle between commands. run()
// sends a script of statements and returns every row of every result as psql -At prints
// it ("a|b", NULL as empty); an error sets *rc = 1, adds its message as a line, stops the
// script and rolls back whatever transaction it left open.
class Pq {
 public:
  explicit Pq(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    EXPECT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    PQclear(PQexec(conn_, "SET client_min_messages = warning"));
  }
  ~Pq() { PQfinish(conn_); }
  Pq(const Pq&) = delete;
  Pq& operator=(const Pq&) = delete;

  std::vector<std::string> run(const std::string& script, int* rc = nullptr) const {
    std::vector<std::string> out;
    bool failed = false;
    if (!PQsendQuery(conn_, script.c_str())) {
      failed = true;
      out.push_back(PQerrorMessage(conn_));
    }
    while (PGresult* res = PQgetResult(conn_)) {
      const auto st = PQresultStatus(res);
      if (st == PGRES_TUPLES_OK) {
        for (int r = 0; r < PQntuples(res); ++r) {
          std::string line;
          for (int c = 0; c < PQnfields(res); ++c) line += (c ? "|" : "") + std::string(PQgetvalue(res, r, c));
          out.push_back(line);
        }
      } else if (st != PGRES_COMMAND_OK && st != PGRES_EMPTY_QUERY) {
        failed = true;
        out.push_back(PQresultErrorMessage(res));
      }
      PQclear(res);
    }
    if (failed && PQtransactionStatus(conn_) != PQTRANS_IDLE) PQclear(PQexec(conn_, "ROLLBACK"));
    if (rc) *rc = failed ? 1 : 0;
    return out;
  }

 private:
  PGconn* conn_;
};

// Per declared constraint, a write (to a row the fix keeps) that breaks that constraint and
// nothing else: before apply the database accepts it, once the constraint exists it must
// refuse it. That tells a constraint that is not enforced from a verify that cannot tell.
std::map<std::string, std::string> breaking_writes(bool pg) {
  std::map<std::string, std::string> w = {
      {"z_composite_qty_range", "UPDATE z_composite SET qty = 101 WHERE region = 'eu' AND code = 1"},
      {"z_composite_note_unique", "UPDATE z_composite SET note = 'a' WHERE region = 'apac' AND code = 1"},
      {"z_textpk_status_valid", "UPDATE z_textpk SET status = 'bogus' WHERE sku = 'A-1'"},
      {"z_textpk_name_new_unique", "UPDATE z_textpk SET name = 'Anvil' WHERE sku = 'B-2'"},
      {"z_nopk_score_nonnegative", "UPDATE z_nopk SET score = -1 WHERE label = 'w'"},
      {"z_nopk_label_unique", "UPDATE z_nopk SET label = 'w' WHERE label = 'y'"},
      {"z_generated_price_nonnegative", "UPDATE z_generated SET price = -1 WHERE id = 1"},
      {"z_generated_total_max", "UPDATE z_generated SET price = 1000 WHERE id = 1"},
      {"z_collate_name_not_forbidden", "UPDATE z_collate SET name = 'Forbidden' WHERE id = 1"},
      {"z_collate_name_unique", "UPDATE z_collate SET name = 'BETA' WHERE id = 1"},
      {"z_collate_code_unique", "UPDATE z_collate SET code = 'x' WHERE id = 1"},
      {"z_inline_qty_positive", "UPDATE z_inline SET qty = 0 WHERE id = 1"},
      {"z_inline_code_unique", "UPDATE z_inline SET code = 'b' WHERE id = 1"},
      {"z_inline_note_length", "UPDATE z_inline SET note = '0123456789ab' WHERE id = 1"},
      {"z_parent_name_unique", "UPDATE z_parent SET name = 'p1' WHERE id = 2"},
      {"z_child_cascade_v_nonnegative", "UPDATE z_child_cascade SET v = -1 WHERE id = 1"},
      {"z_child_setnull_v_range", "UPDATE z_child_setnull SET v = 11 WHERE id = 2"},
      {"z_child_noaction_v_valid", "UPDATE z_child_noaction SET v = 4 WHERE id = 2"},
      {"z_audited_qty_range", "UPDATE z_audited SET qty = 51 WHERE id = 1"},
      {"characters_xp_nonnegative", "UPDATE characters SET xp = -1 WHERE id = 1"},
      {"characters_status_valid", "UPDATE characters SET status = 'Bad' WHERE id = 1"},
      {"humans_willpower_range", "UPDATE humans SET willpower = 11 WHERE id = 1"},
      {"humans_temporary_willpower_range", "UPDATE humans SET temporary_willpower = -1 WHERE id = 1"},
      {"humans_temporary_willpower_le_willpower", "UPDATE humans SET temporary_willpower = 6 WHERE id = 1"},
      {"humans_age_range", "UPDATE humans SET age = 501 WHERE id = 1"},
      {"humans_apparent_age_range", "UPDATE humans SET apparent_age = 201 WHERE id = 1"},
      {"st_relationships_user_chronicle_gameline_unique",
       "UPDATE st_relationships SET user_id = 1, chronicle_id = 2, gameline = 'werewolf' WHERE id = 6"},
  };
  for (const char* col : {"strength", "dexterity", "stamina", "charisma", "manipulation", "appearance", "perception",
                          "intelligence", "wits"})
    w[std::string("attribute_blocks_") + col + "_range"] =
        std::string("UPDATE attribute_blocks SET ") + col + " = 11 WHERE id = 1";
  for (const char* col :
       {"alertness", "athletics", "brawl", "empathy", "expression", "intimidation", "streetwise", "subterfuge"})
    w[std::string("ability_blocks_") + col + "_range"] =
        std::string("UPDATE ability_blocks SET ") + col + " = 11 WHERE id = 1";
  if (pg) {
    w["z_t_enum_mood_not_sad"] = "UPDATE z_t_enum SET mood = 'sad' WHERE id = 1";
    w["z_t_domain_d_max"] = "UPDATE z_t_domain SET d = 101 WHERE id = 1";
    w["z_t_time_born_after_1900"] = "UPDATE z_t_time SET born = '1800-01-01' WHERE id = 1";
    w["z_t_time_seen_before_2100"] = "UPDATE z_t_time SET seen = '2200-01-01 00:00:00+00' WHERE id = 1";
    w["z_t_numeric_price_range"] = "UPDATE z_t_numeric SET price = 1000.01 WHERE id = 1";
    w["z_t_json_doc_object"] = "UPDATE z_t_json SET doc = '[1]' WHERE id = 1";
    w["z_t_uuid_u_unique"] = "UPDATE z_t_uuid SET u = '00000000-0000-0000-0000-000000000001' WHERE id = 1";
    w["z_t_bool_active_needs_qty"] = "UPDATE z_t_bool SET qty = 0 WHERE id = 1";
    w["z_t_array_tags_max3"] = "UPDATE z_t_array SET tags = '{a,b,c,d}' WHERE id = 1";
    w["z_t_array_scores_nonnegative"] = "UPDATE z_t_array SET scores = '{-1}' WHERE id = 1";
    w["z_events_v_nonnegative"] = "UPDATE z_events SET v = -1 WHERE id = 1";
    w["z_events_region_code_unique"] = "UPDATE z_events SET code = 'b' WHERE id = 3";
    w["order_lines_qty_positive"] = "UPDATE \"Order Lines\" SET \"Qty\" = 0 WHERE \"Line No\" = 1";
    w["order_lines_qty_max"] = "UPDATE \"Order Lines\" SET \"Qty\" = 101 WHERE \"Line No\" = 1";
    w["order_lines_order_ref_unique"] = "UPDATE \"Order Lines\" SET \"Order Ref\" = 'O-1' WHERE \"Line No\" = 3";
    w["sales_orders_amount_nonnegative"] = "UPDATE sales.orders SET amount = -1 WHERE id = 1";
    w["sales_orders_ref_unique"] = "UPDATE sales.orders SET ref = 'r2' WHERE id = 1";
    w["archive_orders_amount_nonnegative"] = "UPDATE archive.orders SET amount = -1 WHERE id = 3";
    w["archive_orders_ref_unique"] = "UPDATE archive.orders SET ref = 'r1' WHERE id = 3";
  } else {
    w["z_without_rowid_v_range"] = "UPDATE z_without_rowid SET v = 11 WHERE k = 'a' AND n = 1";
    w["z_strict_amount_range"] = "UPDATE z_strict SET amount = 101 WHERE id = 1";
    w["z_strict_label_valid"] = "UPDATE z_strict SET label = 'z' WHERE id = 1";
    w["z_autoinc_n_range"] = "UPDATE z_autoinc SET n = 11 WHERE id = 1";
    w["z_mixedcase_val_nonnegative"] = "UPDATE \"Z_MixedCase\" SET \"Val\" = -1 WHERE \"Id\" = 1";
  }
  return w;
}

struct ZooParam {
  std::string dialect, shape;
};

void PrintTo(const ZooParam& p, std::ostream* os) { *os << p.dialect << "/" << p.shape; }

std::string param_name(const ::testing::TestParamInfo<ZooParam>& info) {
  return info.param.dialect + "_" + info.param.shape;
}

// One zoo database and project per test.
class Zoo {
 public:
  explicit Zoo(std::string dialect) : dialect_(std::move(dialect)) {}

  bool pg() const { return dialect_ == "postgresql"; }
  const std::string& url() const { return url_; }
  const fs::path& project() const { return project_; }

  void create() {
    project_ = dir_ / "project";
    fs::create_directories(project_ / "schema");
    if (pg()) {
      pgdb_ = std::make_unique<PgDatabase>();
      url_ = pgdb_->url();
      pq_ = std::make_unique<Pq>(url_);
      int rc = 0;
      auto out = pq_->run(read_file(zoo_dir() / "postgresql.sql"), &rc);
      ASSERT_EQ(rc, 0) << "loading fixtures/zoo/postgresql.sql: " << (out.empty() ? "" : out.back());
    } else {
      db_ = dir_ / "zoo.db";
      shell("sqlite3 -bail -batch " + sh_quote(db_.string()) + " < " + sh_quote((zoo_dir() / "sqlite.sql").string()) +
            " >/dev/null");
      url_ = "sqlite:" + db_.string();
    }
    tables_ = list_tables();
  }

  void add_schema_files(const std::vector<fs::path>& files) {
    for (const auto& f : files) {
      fs::copy_file(f, project_ / "schema" / f.filename(), fs::copy_options::overwrite_existing);
      for (auto& d : read_declarations(f)) declared_.push_back(d);
    }
  }
  void add_schema_text(const std::string& file, const std::string& text) {
    write_file(project_ / "schema" / file, text);
    for (auto& d : read_declarations(project_ / "schema" / file)) declared_.push_back(d);
  }
  const std::vector<Declared>& declared() const { return declared_; }
  std::set<std::string> declared_tables() const {
    std::set<std::string> out;
    for (const auto& d : declared_) out.insert(d.table);
    return out;
  }

  // The binary, on this database and project. No command may exit 3 or 70.
  RunResult cli(std::vector<std::string> args) {
    const std::string shown = join(args);
    args.insert(args.begin(), {"--db", url_, "--project", project_.string()});
    auto r = run_cli(args, project_);
    EXPECT_NE(r.exit_code, 3) << "[" << dialect_ << "] `constraintctl " << shown
                              << "` exited 3 (database error): " << r.err << r.out.substr(0, 2000);
    EXPECT_NE(r.exit_code, 70) << "[" << dialect_ << "] `constraintctl " << shown
                               << "` exited 70 (internal error): " << r.err;
    return r;
  }

  // Runs SQL through sqlite3 / psql; returns stdout lines ("a|b" per row).
  std::vector<std::string> sql(const std::string& script, int* rc = nullptr) const {
    if (pg()) return pq_->run(script, rc);
    const auto path = dir_ / "q.sql";
    write_file(path, script);
    return lines_of(
        capture("sqlite3 -bail -batch " + sh_quote(db_.string()) + " < " + sh_quote(path.string()) + " 2>&1", rc));
  }

  // Every row of every table (sorted per table), sequences (PostgreSQL) and sqlite_sequence;
  // SQLite rowids of rowid tables too. Sections keyed by table.
  std::map<std::string, std::vector<std::string>> dump() const {
    std::string script = pg() ? "" : ".mode quote\n";
    for (const auto& [t, rowid] : tables_) {
      script += "SELECT '## " + t + "';\n";
      if (pg())
        script += "SELECT t::text FROM " + t + " AS t;\n";
      else if (t == "sqlite_sequence")
        script += "SELECT * FROM sqlite_sequence WHERE name NOT LIKE 'constraintctl%';\n";
      else
        script += std::string("SELECT ") + (rowid ? "rowid, " : "") + "* FROM \"" + t + "\";\n";
    }
    if (pg())
      script +=
          "SELECT '## sequences';\nSELECT schemaname, sequencename, last_value FROM pg_sequences "
          "WHERE sequencename NOT LIKE 'constraintctl%';\n";
    std::map<std::string, std::vector<std::string>> out;
    std::string section;
    for (auto line : sql(script)) {
      if (!pg() && line.rfind("'## ", 0) == 0 && line.back() == '\'') line = line.substr(1, line.size() - 2);
      if (line.rfind("## ", 0) == 0) {
        section = line.substr(3);
        out[section];
      } else {
        out[section].push_back(line);
      }
    }
    for (auto& [k, v] : out) std::sort(v.begin(), v.end());
    return out;
  }

  static std::string show(const std::map<std::string, std::vector<std::string>>& d) {
    std::string s;
    for (const auto& [k, v] : d) {
      s += "-- " + k + "\n";
      for (const auto& l : v) s += "   " + l + "\n";
    }
    return s;
  }

  // The tables whose sections differ between two dumps, with both sides.
  static std::string diff(const std::map<std::string, std::vector<std::string>>& a,
                          const std::map<std::string, std::vector<std::string>>& b,
                          const std::set<std::string>& skip = {}) {
    std::string s;
    std::set<std::string> keys;
    for (const auto& [k, v] : a) keys.insert(k);
    for (const auto& [k, v] : b) keys.insert(k);
    for (const auto& k : keys) {
      if (skip.count(k)) continue;
      auto ia = a.find(k), ib = b.find(k);
      std::vector<std::string> va = ia == a.end() ? std::vector<std::string>{} : ia->second;
      std::vector<std::string> vb = ib == b.end() ? std::vector<std::string>{} : ib->second;
      if (va == vb) continue;
      s += "table " + k + ":\n  before:\n";
      for (const auto& l : va) s += "    " + l + "\n";
      s += "  after:\n";
      for (const auto& l : vb) s += "    " + l + "\n";
    }
    return s;
  }

  // The user's schema objects: tables (SQLite: their SQL without whitespace), columns,
  // constraints, indexes, triggers, views; constraintctl's bookkeeping left out.
  std::set<std::string> catalog(bool with_tables = true) const {
    std::string script;
    if (pg()) {
      const std::string user_ns = "NOT IN ('pg_catalog', 'information_schema', 'pg_toast')";
      script =
          "SELECT 'constraint', coalesce(conrelid::regclass::text, contypid::regtype::text), conname, contype, "
          "pg_get_constraintdef(oid), convalidated, condeferrable, condeferred FROM pg_constraint WHERE "
          "connamespace::regnamespace::text " +
          user_ns +
          " AND coalesce(conrelid::regclass::text, '') NOT LIKE 'constraintctl%';\n"
          "SELECT 'index', schemaname, tablename, indexname, indexdef FROM pg_indexes WHERE schemaname " +
          user_ns +
          " AND tablename NOT LIKE 'constraintctl%';\n"
          "SELECT 'trigger', tgrelid::regclass::text, tgname, pg_get_triggerdef(oid), tgenabled FROM pg_trigger WHERE "
          "NOT tgisinternal;\n"
          "SELECT 'view', schemaname, viewname, definition FROM pg_views WHERE schemaname " +
          user_ns + ";\n";
      if (with_tables)
        script +=
            "SELECT 'column', table_schema, table_name, column_name, data_type, udt_name, is_nullable, column_default, "
            "collation_name, is_generated, generation_expression, is_identity FROM information_schema.columns "
            "WHERE table_schema " +
            user_ns +
            " AND table_name NOT LIKE 'constraintctl%';\n"
            "SELECT 'relation', relnamespace::regnamespace::text, relname, relkind, relpersistence, relispartition, "
            "pg_get_partkeydef(oid) FROM pg_class WHERE relkind IN ('r', 'p', 'v', 'm') AND "
            "relnamespace::regnamespace::text " +
            user_ns + " AND relname NOT LIKE 'constraintctl%';\n";
    } else {
      // Whitespace and double quotes dropped: the rebuild's ALTER TABLE RENAME (SQLite's own
      // procedure) writes the table's name quoted.
      script =
          "SELECT type, name, tbl_name, replace(replace(replace(replace(replace(sql, ' ', ''), char(10), ''), char(9), "
          "''), "
          "char(13), ''), '\"', '') "
          "FROM sqlite_schema WHERE name NOT LIKE 'constraintctl%' AND tbl_name NOT LIKE 'constraintctl%'" +
          std::string(with_tables ? "" : " AND type <> 'table'") + ";\n";
    }
    std::set<std::string> out;
    for (const auto& l : sql(script)) out.insert(l);
    return out;
  }

  // Constraints present by name: "check:NAME" / "unique:NAME" (a UNIQUE constraint or a unique index).
  std::set<std::string> present() const {
    std::set<std::string> out;
    if (pg()) {
      for (const auto& l :
           sql("SELECT CASE contype WHEN 'c' THEN 'check:' ELSE 'unique:' END || conname FROM pg_constraint "
               "WHERE contype IN ('c', 'u');\n"
               "SELECT 'unique:' || c.relname FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid "
               "WHERE i.indisunique;\n"))
        out.insert(l);
      return out;
    }
    for (const auto& l :
         sql("SELECT 'unique:' || name FROM sqlite_schema WHERE type = 'index' AND sql LIKE 'CREATE UNIQUE%';\n"
             "SELECT '#' || replace(replace(sql, char(10), ' '), char(13), ' ') FROM sqlite_schema WHERE type = "
             "'table';\n")) {
      if (l.rfind("unique:", 0) == 0) {
        out.insert(l);
        continue;
      }
      static const std::regex named(
          R"re(CONSTRAINT\s+(?:"((?:[^"]|"")+)"|`([^`]+)`|\[([^\]]+)\]|'([^']+)'|(\w+))\s+(CHECK|UNIQUE))re",
          std::regex::icase);
      for (auto it = std::sregex_iterator(l.begin(), l.end(), named); it != std::sregex_iterator(); ++it) {
        std::string n;
        for (int g = 1; g <= 5 && n.empty(); ++g) n = (*it)[g].str();
        std::string kind = (*it)[6].str();
        std::transform(kind.begin(), kind.end(), kind.begin(), ::tolower);
        out.insert(kind + ":" + n);
      }
    }
    return out;
  }

  // Statements the user's schema must refuse: those that went through, as messages.
  std::vector<std::string> accepted_refusals(const std::set<std::string>& tables) const {
    std::vector<std::string> out;
    for (const auto& r : user_refusals()) {
      if (!(pg() ? r.pg : r.sqlite)) continue;
      if (!tables.empty() && !tables.count(r.table)) continue;
      int rc = 0;
      // SQLite has no SET CONSTRAINTS: a deferred foreign key is checked at COMMIT, so the
      // statement runs on its own (a refused one changes nothing either way).
      const std::string script = pg() ? "BEGIN;\nSET CONSTRAINTS ALL IMMEDIATE;\n" + r.sql + ";\nROLLBACK;\n"
                                      : "PRAGMA foreign_keys = ON;\n" + r.sql + ";\n";
      auto lines = sql(script, &rc);
      if (rc == 0) out.push_back(r.what + " accepted `" + r.sql + "`");
    }
    return out;
  }

  // Declared constraint -> the database refused its breaking write (run in a transaction
  // that is rolled back). Constraints without one are left out.
  std::map<std::string, bool> refuses() const {
    const auto writes = breaking_writes(pg());
    std::map<std::string, bool> out;
    for (const auto& d : declared_) {
      auto it = writes.find(d.name);
      if (it == writes.end()) continue;
      int rc = 0;
      sql(pg() ? "BEGIN;\nSET CONSTRAINTS ALL IMMEDIATE;\n" + it->second + ";\nROLLBACK;\n"
               : "BEGIN;\n" + it->second + ";\nROLLBACK;\n",
          &rc);
      out[d.name] = rc != 0;
    }
    return out;
  }

  // Hand counts of the declared constraints, in one round trip: name -> count (-1: no SQL).
  std::map<std::string, long> counts() const {
    const auto hand = hand_counts(pg());
    std::string script;
    std::map<std::string, long> out;
    for (const auto& d : declared_) {
      auto it = hand.find(d.name);
      out[d.name] = -1;
      if (it != hand.end()) script += "SELECT '" + d.name + "', (" + it->second + ");\n";
    }
    for (const auto& l : sql(script)) {
      auto bar = l.find('|');
      if (bar != std::string::npos && out.count(l.substr(0, bar)))
        out[l.substr(0, bar)] = std::atol(l.c_str() + bar + 1);
    }
    return out;
  }

  std::string file_bytes() const { return pg() ? "" : read_file(db_); }

 private:
  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& a : v) s += (s.empty() ? "" : " ") + a;
    return s;
  }

  // table -> dump its rowid (SQLite); PostgreSQL: schema-qualified, quoted names.
  std::vector<std::pair<std::string, bool>> list_tables() const {
    std::vector<std::pair<std::string, bool>> out;
    if (pg()) {
      for (const auto& l :
           sql("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN "
               "('pg_catalog', 'information_schema') AND tablename NOT LIKE 'constraintctl%' ORDER BY 1;\n"))
        out.emplace_back(l, false);
    } else {
      // The rowid is part of a row only where it is the row's identity: a rowid table
      // without a PRIMARY KEY (elsewhere SQLite itself may renumber it, e.g. VACUUM).
      for (const auto& l :
           sql("SELECT name, sql NOT LIKE '%WITHOUT ROWID%' AND NOT EXISTS (SELECT 1 FROM "
               "pragma_table_info(s.name) WHERE pk > 0) FROM sqlite_schema AS s WHERE type = 'table' AND name NOT "
               "LIKE 'constraintctl%' ORDER BY 1;\n")) {
        auto bar = l.rfind('|');
        out.emplace_back(l.substr(0, bar), l.substr(bar + 1) == "1");
      }
    }
    return out;
  }

  std::string dialect_;
  TempDir dir_;
  std::unique_ptr<PgDatabase> pgdb_;
  std::unique_ptr<Pq> pq_;  // declared after pgdb_: closed before the database is dropped
  fs::path db_;
  std::string url_;
  fs::path project_;
  std::vector<std::pair<std::string, bool>> tables_;
  std::vector<Declared> declared_;
};

json parse(const RunResult& r) {
  auto doc = json::parse(r.out, nullptr, false);
  return doc.is_discarded() ? json() : doc;
}

std::string brief(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + ", stderr: " + r.err.substr(0, 1500) +
         "\nstdout: " + r.out.substr(0, 1500);
}

// The side table the audit trigger writes: rows the fix and the undo add are the trigger
// doing its job; every row it had must still be there, unchanged.
const std::string kSideTable = "z_audit_log";
bool is_side(const std::string& section) { return section == kSideTable || section == "public.z_audit_log"; }

void expect_side_rows_kept(const std::map<std::string, std::vector<std::string>>& before,
                           const std::map<std::string, std::vector<std::string>>& after, const std::string& step) {
  for (const auto& [k, rows] : before) {
    if (!is_side(k)) continue;
    auto it = after.find(k);
    ASSERT_NE(it, after.end()) << step;
    for (const auto& row : rows) {
      EXPECT_NE(std::find(it->second.begin(), it->second.end(), row), it->second.end())
          << step << ": the trigger's side table lost row " << row;
    }
  }
}

// Data equal, except the trigger's side table (checked by expect_side_rows_kept) and, on
// PostgreSQL, its sequence.
// With `sequences` false, PostgreSQL sequences are left out: verify's probes are rolled
// back, but a rolled-back INSERT into a serial/identity table still advances its sequence.
std::string data_diff(std::map<std::string, std::vector<std::string>> a,
                      std::map<std::string, std::vector<std::string>> b, bool sequences = true) {
  for (auto* d : {&a, &b}) {
    auto it = d->find("sequences");
    if (it == d->end()) continue;
    std::vector<std::string> kept;
    for (const auto& l : it->second)
      if (sequences && l.find("z_audit_log") == std::string::npos) kept.push_back(l);
    it->second = kept;
  }
  return Zoo::diff(a, b, {kSideTable, "public.z_audit_log"});
}

std::string set_diff(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::string s;
  for (const auto& x : a)
    if (!b.count(x)) s += "  - " + x + "\n";
  for (const auto& x : b)
    if (!a.count(x)) s += "  + " + x + "\n";
  return s;
}

std::string missing_from(const std::set<std::string>& want, const std::set<std::string>& have) {
  std::string s;
  for (const auto& x : want)
    if (!have.count(x)) s += "  missing: " + x + "\n";
  return s;
}

// Checks a verify --json document: every declared constraint has `status` (or one of
// `alternatives`), and ok only with a probe that ran and was rejected.
void expect_verify(const RunResult& r, const Zoo& zoo, const std::function<std::string(const Declared&)>& want,
                   const std::string& step) {
  EXPECT_EQ(r.exit_code, 0) << step << ": verify found problems: " << brief(r);
  const auto doc = parse(r);
  ASSERT_TRUE(doc.contains("constraints")) << step << ": no JSON: " << brief(r);
  std::map<std::string, json> got;
  for (const auto& c : doc["constraints"]) got[c.value("name", "")] = c;
  for (const auto& d : zoo.declared()) {
    auto it = got.find(d.name);
    if (it == got.end()) {
      ADD_FAILURE() << step << ": verify does not list " << d.table << "." << d.name;
      continue;
    }
    const auto& c = it->second;
    EXPECT_EQ(c.value("status", ""), want(d)) << step << ": " << d.table << "." << d.name << ": " << c.dump();
    if (c.value("status", "") == "ok") {
      const std::string probe = c.contains("probe") && c["probe"].is_string() ? c["probe"].get<std::string>() : "";
      EXPECT_EQ(probe.rfind("rejected", 0), 0u)
          << step << ": " << d.name << " scored ok without a rejected probe: " << c.dump();
    }
  }
  for (const auto& [name, c] : got) {
    EXPECT_NE(c.value("status", ""), "unexpected") << step << ": " << c.dump();
  }
}

// "name (n rows)" for every declared constraint the hand counts say is still violated.
std::string still_violated(const Zoo& zoo) {
  std::string s;
  for (const auto& [name, n] : zoo.counts())
    if (n != 0) s += (s.empty() ? "" : ", ") + name + " (" + std::to_string(n) + ")";
  return s;
}

// The whole life cycle on `zoo` (a project and database already made).
void run_lifecycle(Zoo& zoo) {
  const bool pg = zoo.pg();
  const std::string D = pg ? "[postgresql] " : "[sqlite] ";
  const auto tables = zoo.declared_tables();
  bool has_fk_shape = false;
  for (const auto& d : zoo.declared()) has_fk_shape |= d.name == "z_parent_name_unique";

  // The probes of the user's own schema are sound: everything refused before we start.
  {
    auto accepted = zoo.accepted_refusals(tables);
    ASSERT_TRUE(accepted.empty()) << D << "fixture problem: " << accepted.front();
  }
  const auto catalog0 = zoo.catalog();
  const auto objects0 = zoo.catalog(false);
  const auto data0 = zoo.dump();
  const auto hand0 = zoo.counts();

  // 1. scan: every count equals the hand-written SQL.
  {
    SCOPED_TRACE(D + "scan --json");
    for (const auto& [name, n] : hand0) ASSERT_GE(n, 0) << "no hand-written count for " << name;
    auto r = zoo.cli({"scan", "--json"});
    EXPECT_EQ(r.exit_code, 1) << brief(r);
    EXPECT_EQ(r.out.find("unsupported type"), std::string::npos) << r.out;
    const auto doc = parse(r);
    std::map<std::string, json> got;
    if (doc.contains("constraints"))
      for (const auto& c : doc["constraints"]) got[c.value("name", "")] = c;
    if (got.empty()) ADD_FAILURE() << "scan gave no constraints, so no count could be compared: " << brief(r);
    for (const auto& d : zoo.declared()) {
      auto it = got.find(d.name);
      if (it == got.end()) {
        if (!got.empty()) ADD_FAILURE() << "scan does not report " << d.table << "." << d.name;
        continue;
      }
      EXPECT_EQ(it->second.value("violations", -1L), hand0.at(d.name))
          << d.table << "." << d.name << " (" << d.kind << "): scan counted " << it->second.value("violations", -1L)
          << ", hand-written SQL " << hand0.at(d.name) << "; " << it->second.dump();
      if (hand0.at(d.name) > 0) {
        EXPECT_FALSE(it->second.value("samples", json::array()).empty())
            << d.name << ": no samples: " << it->second.dump();
      }
      auto sv = kSampleValues.find(d.name);
      if (sv != kSampleValues.end()) {
        const auto text = it->second.value("samples", json::array()).dump();
        bool found = false;
        for (const auto& alt : sv->second) found |= text.find(alt) != std::string::npos;
        EXPECT_TRUE(found) << d.name << ": samples do not show the typed value (one of " << sv->second.front()
                           << "...): " << text;
      }
    }
    auto v = zoo.cli({"scan", "--verbose"});
    EXPECT_EQ(v.exit_code, 1) << "scan --verbose: " << brief(v);
    EXPECT_EQ(v.out.find("unsupported type"), std::string::npos) << "scan --verbose: " << v.out;
  }

  // 2. scan --fix --dry-run writes nothing.
  {
    SCOPED_TRACE(D + "scan --fix --dry-run");
    const auto bytes = zoo.file_bytes();
    auto r = zoo.cli({"scan", "--fix", "--dry-run", "--json"});
    EXPECT_EQ(r.exit_code, 0) << "the fix's dry run should succeed as the fix would: " << brief(r);
    EXPECT_EQ(r.out.find("unsupported type"), std::string::npos) << r.out;
    const auto after = zoo.dump();
    EXPECT_EQ(Zoo::diff(data0, after, {"sequences"}), "") << "the dry run changed rows";
    // A sequence is written too when the dry run executes the repair in a transaction it
    // rolls back and a trigger (or default) calls nextval(): that is a write the user sees.
    EXPECT_EQ(Zoo::diff(data0, after, {}) == Zoo::diff(data0, after, {"sequences"}), true)
        << "the dry run advanced a sequence: " << Zoo::diff(data0, after, {});
    EXPECT_EQ(set_diff(catalog0, zoo.catalog()), "") << "the dry run changed the catalog";
    if (!pg) {
      EXPECT_TRUE(bytes == zoo.file_bytes()) << "the dry run changed the SQLite file";
    }
  }

  // 3. scan --fix repairs everything; the hand counts say 0.
  std::string run_id;
  std::map<std::string, std::vector<std::string>> fixed;
  {
    SCOPED_TRACE(D + "scan --fix");
    auto r = zoo.cli({"scan", "--fix", "--json"});
    EXPECT_EQ(r.exit_code, 0) << brief(r);
    const auto doc = parse(r);
    if (doc.contains("run_id") && !doc["run_id"].is_null())
      run_id = doc["run_id"].is_string() ? doc["run_id"].get<std::string>() : doc["run_id"].dump();
    EXPECT_FALSE(run_id.empty()) << "no run_id: " << brief(r);
    EXPECT_EQ(still_violated(zoo), "") << "rows still violate after scan --fix";
    if (has_fk_shape) {
      // The duplicate parent 3 is gone; its SET NULL and NO ACTION children point at 2.
      EXPECT_EQ(zoo.sql("SELECT count(*) FROM z_parent;"), std::vector<std::string>{"3"});
      EXPECT_EQ(zoo.sql("SELECT coalesce(parent_id, -1) FROM z_child_setnull WHERE id = 1;"),
                std::vector<std::string>{"2"})
          << "the ON DELETE SET NULL reference to the deleted duplicate was not repointed";
      EXPECT_EQ(zoo.sql("SELECT parent_id FROM z_child_noaction WHERE id = 1;"), std::vector<std::string>{"2"});
    }
    fixed = zoo.dump();
  }

  // 4. fix-undo puts every row back.
  {
    SCOPED_TRACE(D + "fix-undo " + run_id);
    if (!run_id.empty()) {
      auto r = zoo.cli({"fix-undo", run_id, "--json"});
      EXPECT_EQ(r.exit_code, 0) << brief(r);
      const auto after = zoo.dump();
      EXPECT_EQ(data_diff(data0, after), "") << "fix-undo did not restore every row exactly";
      expect_side_rows_kept(data0, after, "fix-undo");
      EXPECT_EQ(zoo.counts(), hand0) << "the violations are not back";
    }
  }

  // 5. scan --fix again, then a clean scan.
  std::map<std::string, std::vector<std::string>> data1;
  {
    SCOPED_TRACE(D + "scan --fix (again)");
    auto r = zoo.cli({"scan", "--fix", "--json"});
    EXPECT_EQ(r.exit_code, 0) << brief(r);
    EXPECT_EQ(still_violated(zoo), "") << "rows still violate after the second scan --fix";
    auto s = zoo.cli({"scan", "--json"});
    EXPECT_EQ(s.exit_code, 0) << brief(s);
    data1 = zoo.dump();
    EXPECT_EQ(data_diff(fixed, data1), "") << "the second fix did not repair as the first did";
  }

  // 6. generate.
  {
    SCOPED_TRACE(D + "generate");
    auto r = zoo.cli({"generate", "--json"});
    EXPECT_EQ(r.exit_code, 0) << brief(r);
    EXPECT_FALSE(toml_files(zoo.project() / "migrations").empty()) << "no migration written: " << brief(r);
  }

  // The breaking writes are sound: on the repaired data, before apply, each goes through
  // (only the adopted constraints, which exist already, refuse theirs).
  {
    SCOPED_TRACE(D + "before apply");
    const auto writes = breaking_writes(pg);
    for (const auto& d : zoo.declared()) EXPECT_TRUE(writes.count(d.name)) << "no breaking write for " << d.name;
    for (const auto& [name, refused] : zoo.refuses())
      EXPECT_EQ(refused, kAdopted.count(name) > 0)
          << "fixture problem: the breaking write of " << name << " `" << writes.at(name) << "` is "
          << (refused ? "refused" : "accepted") << " before apply";
  }
  // Which declared constraints the database enforces now, by their breaking writes.
  auto expect_enforced = [&](const std::string& step, const std::function<bool(const Declared&)>& enforced) {
    const auto now = zoo.refuses();
    std::string not_enforced, still_enforced;
    for (const auto& d : zoo.declared()) {
      auto it = now.find(d.name);
      if (it == now.end() || it->second == enforced(d)) continue;
      std::string& list = it->second ? still_enforced : not_enforced;
      list += (list.empty() ? "" : ", ") + d.name;
    }
    EXPECT_EQ(not_enforced, "") << step << ": the database accepts a write that breaks these (not enforced)";
    EXPECT_EQ(still_enforced, "") << step << ": the database still refuses a write that breaks these (should be gone)";
  };

  auto expect_user_objects_kept = [&](const std::string& step) {
    EXPECT_EQ(missing_from(objects0, zoo.catalog(false)), "") << step
                                                              << ": the user's own indexes, triggers, views or "
                                                                 "constraints changed";
    auto accepted = zoo.accepted_refusals(tables);
    for (const auto& a : accepted) ADD_FAILURE() << step << ": " << a;
    EXPECT_EQ(data_diff(data1, zoo.dump(), false), "") << step << " changed data";
    if (!pg) {
      EXPECT_EQ(zoo.sql("PRAGMA integrity_check;"), std::vector<std::string>{"ok"}) << step;
      EXPECT_EQ(zoo.sql("PRAGMA foreign_key_check;"), std::vector<std::string>{}) << step;
    }
  };
  auto present_names = [&](const std::string& step, const std::function<bool(const Declared&)>& should_be_present) {
    const auto now = zoo.present();
    std::string missing, extra;
    for (const auto& d : zoo.declared()) {
      const bool there = now.count(d.kind + ":" + d.name) > 0;
      if (there == should_be_present(d)) continue;
      (there ? extra : missing) += (there ? extra : missing).empty() ? "" : ", ";
      (there ? extra : missing) += d.kind + " " + d.table + "." + d.name;
    }
    EXPECT_EQ(missing, "") << step << ": not in the catalog, but should be";
    EXPECT_EQ(extra, "") << step << ": in the catalog, but should not be";
  };
  auto all = [](const Declared&) { return true; };

  // 7. apply.
  {
    SCOPED_TRACE(D + "apply");
    auto r = zoo.cli({"apply", "--json"});
    EXPECT_EQ(r.exit_code, 0) << brief(r);
    present_names("apply", all);
    expect_enforced("apply", all);
    expect_user_objects_kept("apply");
    if (!pg) {
      // Nothing else about a rebuilt table changes.
      const auto tables_now =
          zoo.sql("SELECT name, replace(sql, char(10), ' ') FROM sqlite_schema WHERE type = 'table';");
      for (const auto& [name, keyword] : std::vector<std::pair<std::string, std::string>>{
               {"z_strict", ") STRICT"},
               {"z_without_rowid", "WITHOUT ROWID"},
               {"z_autoinc", "AUTOINCREMENT"},
               {"z_generated", "GENERATED ALWAYS AS (price * qty) VIRTUAL"},
               {"z_collate", "COLLATE NOCASE"},
               {"z_collate", "COLLATE RTRIM"},
               {"humans", "DEFERRABLE INITIALLY DEFERRED"}}) {
        if (!tables.count(name)) continue;
        bool kept = false;
        for (const auto& l : tables_now) kept |= l.rfind(name + "|", 0) == 0 && l.find(keyword) != std::string::npos;
        EXPECT_TRUE(kept) << "apply lost `" << keyword << "` of " << name;
      }
    }
    auto st = zoo.cli({"status", "--check"});
    EXPECT_EQ(st.exit_code, 0) << "status --check after apply: " << brief(st);
  }

  // 8. verify: no false finding; ok only for a probe that ran.
  {
    SCOPED_TRACE(D + "verify");
    expect_verify(
        zoo.cli({"verify", "--json"}), zoo, [](const Declared&) { return std::string("ok"); }, "verify after apply");
    auto h = zoo.cli({"health", "--json"});
    EXPECT_TRUE(parse(h).contains("score")) << "health: " << brief(h);
  }

  // 9. drop-checks: the CHECKs go (not the adopted one), every UNIQUE and user constraint stays.
  auto dropped = [](const Declared& d) { return d.kind == "check" && !kAdopted.count(d.name); };
  {
    SCOPED_TRACE(D + "drop-checks");
    auto r = zoo.cli({"drop-checks", "--json"});
    EXPECT_EQ(r.exit_code, 0) << brief(r);
    const auto doc = parse(r);
    if (doc.contains("dropped")) {
      for (const auto& x : doc["dropped"]) {
        EXPECT_FALSE(kAdopted.count(x.value("name", ""))) << "drop-checks dropped the adopted " << x.dump();
      }
    }
    present_names("drop-checks", [&](const Declared& d) { return !dropped(d); });
    expect_enforced("drop-checks", [&](const Declared& d) { return !dropped(d); });
    expect_user_objects_kept("drop-checks");
    expect_verify(
        zoo.cli({"verify", "--json"}), zoo,
        [&](const Declared& d) { return std::string(dropped(d) ? "dropped" : "ok"); }, "verify after drop-checks");
  }

  // 10. apply restores them.
  {
    SCOPED_TRACE(D + "apply (restore)");
    auto r = zoo.cli({"apply", "--json"});
    EXPECT_EQ(r.exit_code, 0) << brief(r);
    present_names("apply (restore)", all);
    expect_enforced("apply (restore)", all);
    expect_user_objects_kept("apply (restore)");
    expect_verify(
        zoo.cli({"verify", "--json"}), zoo, [](const Declared&) { return std::string("ok"); }, "verify after restore");
  }

  // 11. rollback --to 0: constraintctl's constraints gone, the user's schema as it was.
  {
    SCOPED_TRACE(D + "rollback --to 0");
    auto r = zoo.cli({"rollback", "--to", "0", "--json"});
    EXPECT_EQ(r.exit_code, 0) << brief(r);
    present_names("rollback --to 0", [](const Declared& d) { return kAdopted.count(d.name) > 0; });
    expect_enforced("rollback --to 0", [](const Declared& d) { return kAdopted.count(d.name) > 0; });
    expect_user_objects_kept("rollback --to 0");
    EXPECT_EQ(set_diff(catalog0, zoo.catalog()), "")
        << "rollback --to 0 did not give back the user's schema (- before, + after)";
    // The triggers still fire and the views still read.
    if (tables.count("z_audited")) {
      const auto before = zoo.sql("SELECT count(*) FROM z_audit_log;");
      zoo.sql("UPDATE z_audited SET label = label WHERE id = 1;");
      const auto after = zoo.sql("SELECT count(*) FROM z_audit_log;");
      ASSERT_EQ(before.size(), 1u);
      ASSERT_EQ(after.size(), 1u);
      EXPECT_EQ(std::atol(after[0].c_str()), std::atol(before[0].c_str()) + 1) << "the audit trigger no longer fires";
      int rc = 0;
      zoo.sql("SELECT count(*) FROM z_audited_positive; SELECT count(*) FROM z_parent_summary;", &rc);
      EXPECT_EQ(rc, 0) << "a view no longer reads";
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The life cycle per shape, and on all shapes at once.

// PostgreSQL: does the binary accept `schema = "..."` (issue 12 item 3)? CONSTRAINTCTL_ZOO_SCHEMAS
// = 1 / 0 forces the answer.
bool schema_key_supported() {
  if (const char* v = std::getenv("CONSTRAINTCTL_ZOO_SCHEMAS")) return std::string(v) == "1";
  static const bool supported = [] {
    TempDir dir;
    fs::create_directories(dir / "schema");
    fs::copy_file(zoo_dir() / "extra/schemas/sales_orders.toml", dir / "schema/sales_orders.toml");
    auto r = run_cli({"--project", dir.path().string(), "generate", "--check"}, dir.path());
    return r.exit_code != 2;
  }();
  return supported;
}

std::vector<ZooParam> lifecycle_params() {
  std::vector<ZooParam> out;
  for (const std::string d : {"sqlite", "postgresql"}) {
    out.push_back({d, "all"});
    for (const auto& [name, path] : shapes(d)) out.push_back({d, name});
  }
  return out;
}

class ZooLifecycle : public ::testing::TestWithParam<ZooParam> {};

TEST_P(ZooLifecycle, FullLifeCycle) {
  const auto& p = GetParam();
  if (p.dialect == "postgresql") CC_REQUIRE_POSTGRES();
  Zoo zoo(p.dialect);
  zoo.create();
  if (p.shape == "all") {
    for (const auto& [name, path] : shapes(p.dialect)) zoo.add_schema_files(toml_files(path));
    if (zoo.pg() && schema_key_supported()) zoo.add_schema_files(toml_files(zoo_dir() / "extra/schemas"));
  } else {
    zoo.add_schema_files(toml_files(shapes(p.dialect).at(p.shape)));
  }
  run_lifecycle(zoo);
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooLifecycle, ::testing::ValuesIn(lifecycle_params()), param_name);

// ---------------------------------------------------------------------------------------------
// Shapes that need a test of their own.

class ZooExtra : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgresql") CC_REQUIRE_POSTGRES();
  }
  bool pg() const { return GetParam() == "postgresql"; }
};

// Two schemas with the same table name (PostgreSQL), each with its own counts. Fails until
// the `schema` key exists; the "all" life cycle then takes these files in automatically.
TEST_P(ZooExtra, SchemaQualifiedTablesLifeCycle) {
  if (!pg()) GTEST_SKIP() << "PostgreSQL schemas";
  Zoo zoo(GetParam());
  zoo.create();
  zoo.add_schema_files(toml_files(zoo_dir() / "extra/schemas"));
  run_lifecycle(zoo);
  // Each schema's table kept its own rows: the fix of one never touched the other.
  EXPECT_EQ(zoo.sql("SELECT count(*) FROM sales.orders; SELECT count(*) FROM archive.orders;"),
            (std::vector<std::string>{"2", "2"}));
}

// SQLite: "Z_MixedCase" named as z_mixedcase, column "Val" as val: SQLite's identifiers are
// case-insensitive, and every command must follow that the same way.
TEST_P(ZooExtra, SqliteIdentifierCaseLifeCycle) {
  if (pg()) GTEST_SKIP() << "SQLite identifier case";
  Zoo zoo(GetParam());
  zoo.create();
  zoo.add_schema_files(toml_files(zoo_dir() / "extra/sqlite_case"));
  run_lifecycle(zoo);
}

// A repair that cannot work on the table is refused before anything changes, naming the
// schema file and line: `f` holds it; `column` must appear in the message.
void expect_refused_before_any_change(Zoo& zoo, const std::string& file, const std::string& column) {
  const auto before = zoo.dump();
  for (const bool dry : {true, false}) {
    std::vector<std::string> args = {"scan", "--fix"};
    if (dry) args.push_back("--dry-run");
    auto r = zoo.cli(args);
    const std::string what = dry ? "scan --fix --dry-run" : "scan --fix";
    EXPECT_NE(r.exit_code, 0) << what << " accepted a repair that cannot work: " << brief(r);
    EXPECT_NE(r.err.find(file + ":"), std::string::npos)
        << what << ": the refusal does not name " << file << ":LINE: " << brief(r);
    EXPECT_NE(r.err.find(column), std::string::npos)
        << what << ": the refusal does not name " << column << ": " << brief(r);
    EXPECT_EQ(Zoo::diff(before, zoo.dump()), "") << what << " changed rows before refusing";
  }
}

// Django makes humans.apparent_age `integer NOT NULL`: the reference `set_null` repair
// cannot work there and must be refused at plan time, not fail half-way with exit 3.
TEST_P(ZooExtra, DjangoSetNullOnNotNullColumnRefusedAtPlanTime) {
  Zoo zoo(GetParam());
  zoo.create();
  zoo.add_schema_files({source_dir() / "schema/humans.toml", zoo_dir() / "shapes/common/django/characters.toml"});
  expect_refused_before_any_change(zoo, "humans.toml", "apparent_age");
}

// A clamp on a generated column is refused at plan time (not previewed as "updated").
TEST_P(ZooExtra, ClampOnGeneratedColumnRefusedAtPlanTime) {
  Zoo zoo(GetParam());
  zoo.create();
  zoo.add_schema_text("z_generated.toml",
                      "table = \"z_generated\"\n\n[[check]]\nname = \"z_generated_total_range\"\ncolumn = \"total\"\n"
                      "min = 0\nmax = 1000\nrepair = \"clamp\"\n");
  expect_refused_before_any_change(zoo, "z_generated.toml", "total");
}

// SQLite refuses non-deterministic functions in a CHECK: that is known before any DDL, so
// it is a schema error (file:line) before scan, not a failure in the middle of apply.
TEST_P(ZooExtra, SqliteNonDeterministicCheckRefusedBeforeAnyDdl) {
  if (pg()) GTEST_SKIP() << "SQLite's rule";
  Zoo zoo(GetParam());
  zoo.create();
  zoo.add_schema_text(
      "z_nopk.toml",
      "table = \"z_nopk\"\n\n[[check]]\nname = \"z_nopk_created_past\"\nexpr = \"created <= datetime('now')\"\n");
  const auto catalog = zoo.catalog();
  auto scan = zoo.cli({"scan"});
  EXPECT_EQ(scan.exit_code, 2) << "scan should refuse the CHECK as SQLite would: " << brief(scan);
  EXPECT_NE(scan.err.find("z_nopk.toml:"), std::string::npos) << brief(scan);
  zoo.cli({"generate"});
  auto apply = zoo.cli({"apply"});
  EXPECT_EQ(apply.exit_code, 2) << "apply should refuse before any DDL: " << brief(apply);
  EXPECT_NE(apply.err.find("z_nopk.toml:"), std::string::npos) << brief(apply);
  EXPECT_EQ(set_diff(catalog, zoo.catalog()), "") << "apply changed the catalog before refusing";
}

// SQLite: a dangling foreign key in an unrelated table (z_child_noaction) does not block
// an apply that rebuilds another table (z_strict); scan reports it.
TEST_P(ZooExtra, SqliteUnrelatedDanglingForeignKeyDoesNotBlockApply) {
  if (pg()) GTEST_SKIP() << "SQLite's foreign_key_check";
  Zoo zoo(GetParam());
  zoo.create();
  zoo.sql("PRAGMA foreign_keys = OFF; INSERT INTO z_child_noaction VALUES (50, 777, 1);");
  zoo.add_schema_files(toml_files(zoo_dir() / "shapes/sqlite/strict"));
  auto scan = zoo.cli({"scan"});
  EXPECT_NE((scan.out + scan.err).find("z_child_noaction"), std::string::npos)
      << "scan does not report the pre-existing foreign-key violation: " << brief(scan);
  EXPECT_EQ(zoo.cli({"scan", "--fix"}).exit_code, 0);
  EXPECT_EQ(zoo.cli({"generate"}).exit_code, 0);
  auto apply = zoo.cli({"apply"});
  EXPECT_EQ(apply.exit_code, 0) << brief(apply);
  auto verify = zoo.cli({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << brief(verify);
  EXPECT_EQ(zoo.sql("SELECT count(*) FROM z_child_noaction WHERE id = 50;"), std::vector<std::string>{"1"});
}

// PostgreSQL: a UNIQUE on a partitioned table is either built (and verified) or refused
// before any other DDL of that apply (z_composite's index comes first in file order); a
// rerun does the same.
TEST_P(ZooExtra, PartitionedUniqueBuiltOrRefusedBeforeAnyDdl) {
  if (!pg()) GTEST_SKIP() << "PostgreSQL partitioned tables";
  Zoo zoo(GetParam());
  zoo.create();
  zoo.add_schema_files(
      {zoo_dir() / "shapes/common/composite/z_composite.toml", zoo_dir() / "extra/partitioned_unique/z_events.toml"});
  auto scan = zoo.cli({"scan", "--json"});
  const auto hand = zoo.counts();
  const auto doc = parse(scan);
  if (doc.contains("constraints")) {
    for (const auto& c : doc["constraints"]) {
      EXPECT_EQ(c.value("violations", -1L), hand.at(c.value("name", ""))) << c.dump();
    }
  }
  auto fix = zoo.cli({"scan", "--fix"});
  EXPECT_EQ(fix.exit_code, 0) << brief(fix);
  for (const auto& [name, n] : zoo.counts()) EXPECT_EQ(n, 0) << name;
  ASSERT_EQ(zoo.cli({"generate"}).exit_code, 0);
  const auto catalog = zoo.catalog();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto apply = zoo.cli({"apply"});
    if (apply.exit_code == 0) {
      auto v = zoo.cli({"verify", "--json"});
      expect_verify(
          v, zoo, [](const Declared&) { return std::string("ok"); }, "verify");
      break;
    }
    EXPECT_TRUE(apply.exit_code == 1 || apply.exit_code == 2) << "attempt " << attempt << ": " << brief(apply);
    EXPECT_NE(apply.err.find("partition"), std::string::npos) << "the refusal does not say why: " << brief(apply);
    EXPECT_EQ(set_diff(catalog, zoo.catalog()), "") << "attempt " << attempt << ": apply ran DDL before refusing";
  }
}

// `TIMESTAMP WITH TIME ZONE '...'` is a typed literal, not a WITH subquery.
TEST_P(ZooExtra, TimestampWithTimeZoneLiteralIsNotASubquery) {
  if (!pg()) GTEST_SKIP() << "a PostgreSQL type name";
  Zoo zoo(GetParam());
  zoo.create();
  zoo.add_schema_text("z_t_time.toml",
                      "table = \"z_t_time\"\n\n[[check]]\nname = \"z_t_time_seen_before_2100\"\n"
                      "expr = \"seen < TIMESTAMP WITH TIME ZONE '2100-01-01 00:00:00+00'\"\n");
  auto r = zoo.cli({"scan", "--json"});
  EXPECT_EQ(r.exit_code, 1) << brief(r);
  const auto doc = parse(r);
  ASSERT_TRUE(doc.contains("constraints")) << brief(r);
  EXPECT_EQ(doc["constraints"][0].value("violations", -1L), zoo.counts().at("z_t_time_seen_before_2100"));
}

INSTANTIATE_TEST_SUITE_P(Dialects, ZooExtra, ::testing::Values("sqlite", "postgresql"));

}  // namespace
}  // namespace cc::test
