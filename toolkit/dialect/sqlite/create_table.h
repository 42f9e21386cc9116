// Reads the clauses of SQLite's stored CREATE TABLE text (sqlite_schema.sql):
// which columns and table constraints it has and where each one sits in the
// text. SQLite keeps constraints only as this text, so inspecting CHECKs, and
// later editing them in during a rebuild, both start here.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cc::dialect::sqlite {

struct Clause {
  enum class Kind { column, check, unique, primary_key, foreign_key };
  Kind kind = Kind::column;
  std::string name;                  // constraint name (empty if unnamed) or, for a column, its name
  std::string body;                  // CHECK: the expression text inside the parentheses
  std::vector<std::string> columns;  // UNIQUE / PRIMARY KEY / the column a column constraint sits on
  bool column_level = false;         // declared inside a column definition
  size_t begin = 0, end = 0;         // byte range in the CREATE TABLE text (end exclusive)
};

struct CreateTable {
  std::vector<Clause> clauses;    // columns and constraints, in text order
  size_t body_open = 0;           // offset of the '(' that opens the definitions
  size_t body_close = 0;          // offset of the matching ')'
  bool without_rowid = false;
  bool strict = false;
};

// Throws cc::DatabaseError when the text is not a CREATE TABLE statement it can read.
CreateTable parse_create_table(std::string_view sql);

// Every CHECK of a CREATE TABLE text, column-level and table-level, as
// (name, or "" when unnamed; the expression), in text order; nullopt when the
// text cannot be read or holds a CHECK keyword the parse did not account for.
std::optional<std::vector<std::pair<std::string, std::string>>> check_bodies(std::string_view sql);

}  // namespace cc::dialect::sqlite

namespace cc::dialect::sqlite {

struct CheckToAdd {
  std::string name;
  std::string expr;
};

// `sql` (a CREATE TABLE statement) with the named CHECK constraints in
// `drop` removed, `add` appended as table constraints, and, when `new_name`
// is not empty, the table renamed. An entry of `drop` that names no CHECK
// may be the condition text of an unnamed one (an adopted inline CHECK). Everything else stays byte-identical.
// Throws cc::Error(findings) when a CHECK to drop is not in the text.
std::string edit_create_table(std::string_view sql, const std::vector<std::string>& drop, const std::vector<CheckToAdd>& add,
                              std::string_view new_name);

}  // namespace cc::dialect::sqlite
