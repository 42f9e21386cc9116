#include "model/migration.h"

#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "core/error.h"
#include "model/expression.h"
#include "model/toml_support.h"

namespace cc::migrate {
namespace {

using model::toml_string;

// Migrations hold standard SQL: identifiers double-quoted, quotes doubled.
std::string sql_ident(std::string_view s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }


std::string join_quoted(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + toml_string(v[i]);
  return out;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw UsageError(p.string() + ": cannot read file");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string_view to_string(OpKind kind) {
  switch (kind) {
    case OpKind::add_check: return "add_check";
    case OpKind::drop_check: return "drop_check";
    case OpKind::add_unique: return "add_unique";
    case OpKind::drop_unique: return "drop_unique";
  }
  return "add_check";
}

std::optional<OpKind> op_kind_from(std::string_view s) {
  for (auto k : {OpKind::add_check, OpKind::drop_check, OpKind::add_unique, OpKind::drop_unique}) {
    if (to_string(k) == s) return k;
  }
  return std::nullopt;
}

bool ConstraintDef::same_definition(const ConstraintDef& o) const {
  return table == o.table && name == o.name && unique == o.unique && check == o.check && columns == o.columns && where == o.where;
}

std::string ConstraintDef::describe() const {
  if (!unique) return "CHECK (" + check + ")";
  std::string cols;
  for (size_t i = 0; i < columns.size(); ++i) cols += (i ? ", " : "") + sql_ident(columns[i]);
  return "UNIQUE (" + cols + ")" + (where.empty() ? "" : " WHERE " + where);
}

Operation Operation::reverse() const {
  Operation r = *this;
  switch (kind) {
    case OpKind::add_check: r.kind = OpKind::drop_check; break;
    case OpKind::drop_check: r.kind = OpKind::add_check; break;
    case OpKind::add_unique: r.kind = OpKind::drop_unique; break;
    case OpKind::drop_unique: r.kind = OpKind::add_unique; break;
  }
  return r;
}

std::string Operation::describe() const {
  return std::string(to_string(kind)) + " " + def.table.str() + "." + def.name;
}

std::string Migration::id() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d", version);
  return std::string(buf) + "_" + name;
}

std::vector<Operation> Migration::steps(bool up) const {
  if (up) return operations;
  std::vector<Operation> out;
  for (auto it = operations.rbegin(); it != operations.rend(); ++it) out.push_back(it->reverse());
  return out;
}

State replay(const std::vector<Migration>& migrations) {
  State state;
  for (const auto& m : migrations) {
    for (const auto& op : m.operations) {
      const std::string where = m.file.string() + ": " + op.describe();
      if (op.adds()) {
        if (state.count(op.def.name)) throw UsageError(where + ": a constraint of that name already exists at this point");
        state[op.def.name] = op.def;
      } else {
        auto it = state.find(op.def.name);
        if (it == state.end()) throw UsageError(where + ": no constraint of that name exists at this point");
        if (!it->second.same_definition(op.def)) {
          throw UsageError(where + ": the drop's definition differs from the one the earlier migrations built");
        }
        state.erase(it);
      }
    }
  }
  return state;
}

Migration parse_migration(const std::string& text, const std::filesystem::path& file) {
  model::Problems problems(file.string());
  Migration m;
  m.file = file;
  m.checksum = sha256_hex(text);
  toml::table root;
  try {
    root = toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    problems.add(e.source(), std::string(e.description()));
    problems.raise("invalid migration:");
  }
  model::check_keys(root, {"version", "name", "operation"}, "the file", problems);
  if (auto v = root["version"].value<std::int64_t>(); v && root["version"].is_integer() && *v > 0 && *v < 10000) {
    m.version = static_cast<int>(*v);
  } else {
    problems.add(model::SourceLocation{file.string(), 1, 1}, "'version' must be an integer from 1 to 9999");
  }
  if (auto n = root["name"].value<std::string>(); n && root["name"].is_string()) {
    m.name = *n;
  } else {
    problems.add(model::SourceLocation{file.string(), 1, 1}, "'name' must be a string");
  }
  if (const toml::array* ops = root["operation"].as_array()) {
    for (const auto& node : *ops) {
      const toml::table* t = node.as_table();
      if (!t) {
        problems.add(node.source(), "each [[operation]] must be a table");
        continue;
      }
      model::check_keys(*t, {"op", "reverse", "table", "schema", "name", "check", "columns", "where"}, "[[operation]]",
                        problems);
      Operation op;
      auto kind = op_kind_from((*t)["op"].value_or(std::string()));
      if (!kind) {
        problems.add(node.source(), "'op' must be add_check, drop_check, add_unique or drop_unique");
        continue;
      }
      op.kind = *kind;
      op.def.unique = op.kind == OpKind::add_unique || op.kind == OpKind::drop_unique;
      if (auto r = (*t)["reverse"].value<std::string>(); r && *r != to_string(op.reverse().kind)) {
        problems.add(node.source(), "'reverse' of " + std::string(to_string(op.kind)) + " must be " +
                                        std::string(to_string(op.reverse().kind)));
      }
      op.def.table.name = (*t)["table"].value_or(std::string());
      op.def.table.schema = (*t)["schema"].value_or(std::string());  // absent (older files): the default schema
      op.def.name = (*t)["name"].value_or(std::string());
      for (auto [what, value] : {std::pair{"table", &op.def.table.name}, std::pair{"name", &op.def.name}}) {
        if (auto why = model::vet_identifier(*value); !why.empty()) {
          problems.add(node.source(), std::string(what) + " " + in_quotes(model::printable(*value)) + " " + why);
        }
      }
      if (auto why = model::vet_identifier(op.def.table.schema); (*t)["schema"] && !why.empty()) {
        problems.add(node.source(), "schema " + in_quotes(model::printable(op.def.table.schema)) + " " + why);
      }
      if (op.def.unique) {
        if (const toml::array* cols = (*t)["columns"].as_array(); cols && !cols->empty()) {
          for (const auto& c : *cols) op.def.columns.push_back(c.value_or(std::string()));
        }
        if (op.def.columns.empty() || std::any_of(op.def.columns.begin(), op.def.columns.end(), [](const auto& c) { return c.empty(); })) {
          problems.add(node.source(), op.describe() + ": 'columns' must be a non-empty array of names");
        }
        op.def.where = (*t)["where"].value_or(std::string());
        if (!op.def.where.empty()) {
          if (auto why = model::vet_expression(op.def.where); !why.empty()) problems.add(node.source(), op.describe() + ": where " + why);
        }
        if ((*t)["check"]) problems.add(node.source(), op.describe() + ": 'check' does not belong to a unique operation");
      } else {
        op.def.check = (*t)["check"].value_or(std::string());
        if (auto why = model::vet_expression(op.def.check); !why.empty()) problems.add(node.source(), op.describe() + ": check " + why);
        if ((*t)["columns"] || (*t)["where"]) problems.add(node.source(), op.describe() + ": 'columns'/'where' belong to unique operations");
      }
      m.operations.push_back(std::move(op));
    }
  } else if (root["operation"]) {
    problems.add(root["operation"].node()->source(), "'operation' must be an array of tables ([[operation]])");
  }
  if (!problems.empty()) problems.raise("invalid migration:");
  return m;
}

std::vector<Migration> load_migrations(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::vector<Migration> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;  // no migrations yet
  static const std::regex pattern(R"(^(\d{4})_([A-Za-z0-9_]+)\.toml$)");
  std::vector<fs::path> files;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const auto& e = *it;
    // As in schema/: a symlink loop is a usage error naming it, not an exception.
    std::error_code entry_ec;
    const bool regular = e.is_regular_file(entry_ec);
    if (entry_ec && (e.path().extension() == ".toml" || entry_ec == std::errc::too_many_symbolic_link_levels)) {
      throw UsageError("migration file '" + e.path().lexically_normal().string() + "' cannot be read: " + entry_ec.message());
    }
    if (!regular) continue;
    const std::string name = e.path().filename().string();
    if (e.path().extension() != ".toml") continue;
    if (!std::regex_match(name, pattern)) {
      throw UsageError((dir / name).lexically_normal().string() + ": migration files are named NNNN_name.toml");
    }
    files.push_back(e.path());
  }
  if (ec) throw UsageError("migrations directory '" + dir.string() + "' cannot be listed: " + ec.message());
  std::sort(files.begin(), files.end());
  std::set<int> seen;
  for (const auto& f : files) {
    const auto shown = f.lexically_normal();
    Migration m = parse_migration(read_file(f), shown);
    std::smatch match;
    const std::string fname = f.filename().string();
    std::regex_match(fname, match, pattern);
    if (std::stoi(match[1]) != m.version || match[2] != m.name) {
      throw UsageError(shown.string() + ": version " + std::to_string(m.version) + " and name '" + m.name +
                       "' inside do not match the file name");
    }
    if (!seen.insert(m.version).second) throw UsageError(shown.string() + ": duplicate version " + std::to_string(m.version));
    out.push_back(std::move(m));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].version != static_cast<int>(i) + 1) {
      throw UsageError(out[i].file.string() + ": version " + std::to_string(out[i].version) + " follows " +
                       (i ? std::to_string(out[i - 1].version) : std::string("nothing")) + "; versions must run 1, 2, 3, ... without gaps");
    }
  }
  replay(out);  // every drop must find what it drops
  return out;
}

std::string render_migration(const Migration& m, const std::string& writer, const std::string& note) {
  std::string out;
  out += "# constraintctl migration " + m.id() + "\n";
  out += "# Written by `constraintctl " + writer + "`. Once applied, this file must not change:\n";
  out += "# its SHA-256 is recorded in the database's constraintctl_history table.\n";
  for (size_t pos = 0; pos < note.size();) {
    const size_t end = std::min(note.find('\n', pos), note.size());
    out += "# " + note.substr(pos, end - pos) + "\n";
    pos = end + 1;
  }
  out += "version = " + std::to_string(m.version) + "\n";
  out += "name = " + toml_string(m.name) + "\n";
  for (const auto& op : m.operations) {
    out += "\n[[operation]]\n";
    out += "op = \"" + std::string(to_string(op.kind)) + "\"\n";
    out += "reverse = \"" + std::string(to_string(op.reverse().kind)) + "\"\n";
    out += "table = " + toml_string(op.def.table.name) + "\n";
    if (!op.def.table.schema.empty()) out += "schema = " + toml_string(op.def.table.schema) + "\n";
    out += "name = " + toml_string(op.def.name) + "\n";
    if (op.def.unique) {
      out += "columns = [" + join_quoted(op.def.columns) + "]\n";
      if (!op.def.where.empty()) out += "where = " + toml_string(op.def.where) + "\n";
    } else {
      out += "check = " + toml_string(op.def.check) + "\n";
    }
  }
  return out;
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    throw Error(ExitCode::internal, "SHA-256 failed");
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

}  // namespace cc::migrate
