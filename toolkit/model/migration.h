// Versioned migrations: dialect-neutral operations on constraints, the files
// that hold them (migrations/NNNN_name.toml), and the state they build up.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/schema.h"

namespace cc::migrate {

enum class OpKind { add_check, drop_check, add_unique, drop_unique };

std::string_view to_string(OpKind kind);
std::optional<OpKind> op_kind_from(std::string_view s);

// A constraint as the database holds it: name, table and definition. Repair
// policies are not part of it; they stay in schema/.
struct ConstraintDef {
  model::TableName table;  // a file without `schema` means the default schema
  std::string name;
  bool unique = false;
  std::string check;                 // CHECK: the condition, identifiers double-quoted
  std::vector<std::string> columns;  // UNIQUE
  std::string where;                 // UNIQUE: partial predicate, may be empty

  bool same_definition(const ConstraintDef& other) const;
  std::string describe() const;  // CHECK (...) / UNIQUE (...) WHERE ...
};

// One operation. A drop carries the full definition so its reverse can put
// the constraint back.
struct Operation {
  OpKind kind = OpKind::add_check;
  ConstraintDef def;

  Operation reverse() const;
  bool adds() const { return kind == OpKind::add_check || kind == OpKind::add_unique; }
  bool is_check() const { return kind == OpKind::add_check || kind == OpKind::drop_check; }
  std::string describe() const;  // "add_check humans.humans_age_range", "add_check sales.orders.orders_qty"
};

struct Migration {
  int version = 0;
  std::string name;
  std::filesystem::path file;
  std::string checksum;  // SHA-256 of the file's bytes, hex
  std::vector<Operation> operations;

  std::string id() const;  // "0001_initial"
  // The operations to run for a direction: as listed going up; reversed and
  // inverted going down.
  std::vector<Operation> steps(bool up) const;
};

// The constraints that exist after a sequence of migrations, keyed by name.
using State = std::map<std::string, ConstraintDef>;

// Replays migrations (in order) from an empty state. Throws cc::UsageError
// when an operation does not fit the state (dropping what is not there).
State replay(const std::vector<Migration>& migrations);

// Loads migrations/*.toml sorted by version. Refuses, before any connection,
// duplicate or missing versions, bad file names and malformed files.
std::vector<Migration> load_migrations(const std::filesystem::path& dir);

// Parses one file's text (tests). `file` names it in messages.
Migration parse_migration(const std::string& text, const std::filesystem::path& file);

// The TOML text of a migration (what `generate` writes; `writer` names the
// command that wrote it, `note` adds comment lines after the header).
std::string render_migration(const Migration& m, const std::string& writer = "generate", const std::string& note = "");

std::string sha256_hex(const std::string& bytes);

}  // namespace cc::migrate
