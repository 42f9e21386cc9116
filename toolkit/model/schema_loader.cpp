#include "model/schema_loader.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "model/expression.h"
#include "model/toml_support.h"

namespace cc::model {
namespace {

constexpr std::uintmax_t kMaxFileBytes = 4 * 1024 * 1024;

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

std::optional<std::string> get_string(const toml::table& tbl, std::string_view key, Problems& problems,
                                      const toml::source_region& owner) {
  const toml::node* n = tbl.get(key);
  (void)owner;
  if (!n) return std::nullopt;
  if (auto s = n->value<std::string>(); s && n->is_string()) return s;
  problems.add(n->source(), in_quotes(key) + " must be a string, not " + toml_type_name(*n));
  return std::nullopt;
}

std::optional<Literal> to_literal(const toml::node& n) {
  if (n.is_integer()) return Literal{n.as_integer()->get()};
  if (n.is_floating_point()) return Literal{n.as_floating_point()->get()};
  if (n.is_string()) return Literal{n.as_string()->get()};
  return std::nullopt;
}

bool is_number(const Literal& l) { return !std::holds_alternative<std::string>(l); }
double as_double(const Literal& l) {
  if (auto i = std::get_if<std::int64_t>(&l)) return static_cast<double>(*i);
  return std::get<double>(l);
}

std::string literal_text(const Literal& l) {
  if (auto i = std::get_if<std::int64_t>(&l)) return std::to_string(*i);
  if (auto d = std::get_if<double>(&l)) {
    std::ostringstream os;
    os << *d;
    return os.str();
  }
  return "'" + std::get<std::string>(l) + "'";
}

bool literal_equal(const Literal& a, const Literal& b) {
  if (is_number(a) && is_number(b)) return as_double(a) == as_double(b);
  return a == b;
}

void vet_name(const std::string& name, std::string_view what, const toml::source_region& at, Problems& problems) {
  if (auto why = vet_identifier(name); !why.empty()) problems.add(at, std::string(what) + " " + in_quotes(printable(name)) + " " + why);
}

void vet_expr(const std::string& expr, std::string_view what, const toml::source_region& at, Problems& problems) {
  if (auto why = vet_expression(expr); !why.empty()) problems.add(at, std::string(what) + " " + why);
}

std::optional<RepairPolicy> parse_policy(std::string_view s) {
  static const std::map<std::string_view, RepairPolicy> names = {
      {"report", RepairPolicy::report},         {"clamp", RepairPolicy::clamp},
      {"set", RepairPolicy::set_value},         {"set_expr", RepairPolicy::set_expr},
      {"set_null", RepairPolicy::set_null},     {"set_default", RepairPolicy::set_default},
      {"delete", RepairPolicy::delete_row},     {"delete_duplicates", RepairPolicy::delete_duplicates},
  };
  auto it = names.find(s);
  if (it == names.end()) return std::nullopt;
  return it->second;
}

// Parses `repair = "clamp"` or `repair = { policy = "...", ... }`.
Repair parse_repair(const toml::node* n, const toml::source_region& owner, Problems& problems) {
  Repair r;
  r.where = problems.location(owner);
  if (!n) return r;  // default: report only
  r.where = problems.location(n->source());
  const toml::table* tbl = n->as_table();
  std::optional<std::string> policy;
  if (n->is_string()) {
    policy = n->as_string()->get();
  } else if (tbl) {
    check_keys(*tbl, {"policy", "value", "column", "expr", "keep", "by", "allow_cascade", "references"}, "repair", problems);
    policy = get_string(*tbl, "policy", problems, n->source());
    if (!policy && !tbl->get("policy")) problems.add(n->source(), "repair needs a 'policy'");
  } else {
    problems.add(n->source(), "'repair' must be a policy name or a table, not " + toml_type_name(*n));
    return r;
  }
  if (!policy) return r;
  auto p = parse_policy(*policy);
  if (!p) {
    problems.add(n->source(), "unknown repair policy " + in_quotes(*policy) +
                                  " (expected report, clamp, set, set_expr, set_null, set_default, delete, delete_duplicates)");
    return r;
  }
  r.policy = *p;
  if (!tbl) return r;
  if (auto c = get_string(*tbl, "column", problems, n->source())) {
    r.column = *c;
    vet_name(r.column, "repair column", tbl->get("column")->source(), problems);
  }
  if (auto e = get_string(*tbl, "expr", problems, n->source())) {
    r.expr = *e;
    vet_expr(r.expr, "repair expr", tbl->get("expr")->source(), problems);
  }
  if (const toml::node* v = tbl->get("value")) {
    r.value = to_literal(*v);
    if (!r.value) problems.add(v->source(), "repair value must be a string or a number, not " + toml_type_name(*v));
  }
  if (auto k = get_string(*tbl, "keep", problems, n->source())) {
    if (*k == "lowest" || *k == "oldest" || *k == "first") {
      r.keep = Keep::lowest;
    } else if (*k == "highest" || *k == "newest" || *k == "last") {
      r.keep = Keep::highest;
    } else {
      problems.add(tbl->get("keep")->source(), "keep must be 'lowest' or 'highest', not " + in_quotes(*k));
    }
  }
  if (auto b = get_string(*tbl, "by", problems, n->source())) {
    r.by = *b;
    vet_name(r.by, "repair 'by' column", tbl->get("by")->source(), problems);
  }
  if (auto ref = get_string(*tbl, "references", problems, n->source())) {
    if (*ref == "refuse") {
      r.references = Repair::References::refuse;
    } else if (*ref == "repoint") {
      r.references = Repair::References::repoint;
    } else {
      problems.add(tbl->get("references")->source(), "references must be 'refuse' or 'repoint', not " + in_quotes(*ref));
    }
  }
  if (const toml::node* ac = tbl->get("allow_cascade")) {
    if (auto b = ac->value<bool>(); b && ac->is_boolean()) {
      r.allow_cascade = *b;
    } else {
      problems.add(ac->source(), "allow_cascade must be true or false");
    }
  }
  // Keys that mean nothing for the chosen policy are mistakes, not noise.
  auto unused = [&](std::string_view key, bool allowed) {
    if (!allowed && tbl->get(key)) {
      problems.add(tbl->get(key)->source(), in_quotes(key) + " does not apply to repair policy " + in_quotes(*policy));
    }
  };
  const auto pol = r.policy;
  unused("value", pol == RepairPolicy::set_value);
  unused("expr", pol == RepairPolicy::set_expr);
  unused("keep", pol == RepairPolicy::delete_duplicates);
  unused("by", pol == RepairPolicy::delete_duplicates);
  unused("references", pol == RepairPolicy::delete_duplicates);
  unused("allow_cascade", pol == RepairPolicy::delete_row || pol == RepairPolicy::delete_duplicates);
  unused("column", pol == RepairPolicy::set_value || pol == RepairPolicy::set_expr || pol == RepairPolicy::set_null ||
                       pol == RepairPolicy::set_default || pol == RepairPolicy::clamp);
  if (pol == RepairPolicy::set_value && !r.value) problems.add(n->source(), "repair policy 'set' needs a 'value'");
  if (pol == RepairPolicy::set_expr && r.expr.empty()) problems.add(n->source(), "repair policy 'set_expr' needs an 'expr'");
  return r;
}

// Does `value` satisfy the structured check? Used to reject `set` repairs that
// would write another violation.
bool satisfies(const Check& c, const Literal& value) {
  if (!c.allowed.empty()) {
    return std::any_of(c.allowed.begin(), c.allowed.end(), [&](const Literal& a) { return literal_equal(a, value); });
  }
  if (c.min || c.max) {
    if (!is_number(value)) return false;
    if (c.min && is_number(*c.min) && as_double(value) < as_double(*c.min)) return false;
    if (c.max && is_number(*c.max) && as_double(value) > as_double(*c.max)) return false;
  }
  return true;
}

void validate_check_repair(Check& c, Problems& problems) {
  Repair& r = c.repair;
  const std::string where = "repair of " + in_quotes(c.name);
  switch (r.policy) {
    case RepairPolicy::report:
    case RepairPolicy::delete_row:
      return;
    case RepairPolicy::delete_duplicates:
      problems.add(r.where, where + ": 'delete_duplicates' is for UNIQUE constraints");
      return;
    case RepairPolicy::clamp:
      if (!c.structured() || (!c.min && !c.max)) {
        problems.add(r.where, where + ": 'clamp' needs a check with 'min' or 'max'");
      } else if ((c.min && !is_number(*c.min)) || (c.max && !is_number(*c.max))) {
        problems.add(r.where, where + ": 'clamp' needs numeric bounds");
      }
      if (c.structured() && c.not_null) problems.add(r.where, where + ": 'clamp' cannot repair a NULL (the check has not_null)");
      return;
    default:
      break;
  }
  if (r.column.empty()) r.column = c.column;
  if (r.column.empty()) {
    problems.add(r.where, where + ": policy " + in_quotes(to_string(r.policy)) + " on an 'expr' check needs a 'column' to assign");
    return;
  }
  if (c.structured() && r.column != c.column) {
    problems.add(r.where, where + ": repair column " + in_quotes(r.column) + " is not the checked column " + in_quotes(c.column));
  }
  if (r.policy == RepairPolicy::set_value && r.value && c.structured() && !satisfies(c, *r.value)) {
    problems.add(r.where, where + ": value " + literal_text(*r.value) + " itself violates the check");
  }
  if (r.policy == RepairPolicy::set_null && c.structured() && c.not_null) {
    problems.add(r.where, where + ": 'set_null' cannot repair a not_null check");
  }
}

Check parse_check(const toml::table& tbl, const toml::source_region& at, Problems& problems) {
  Check c;
  c.where = problems.location(at);
  check_keys(tbl, {"name", "column", "min", "max", "in", "not_null", "expr", "description", "repair"}, "[[check]]", problems);
  if (auto name = get_string(tbl, "name", problems, at)) {
    c.name = *name;
    vet_name(c.name, "constraint name", tbl.get("name")->source(), problems);
  } else if (!tbl.get("name")) {
    problems.add(at, "[[check]] needs a 'name' (every constraint has an explicit, stable name)");
  }
  if (auto col = get_string(tbl, "column", problems, at)) {
    c.column = *col;
    vet_name(c.column, "column", tbl.get("column")->source(), problems);
  }
  if (auto e = get_string(tbl, "expr", problems, at)) {
    c.expr = *e;
    vet_expr(c.expr, "check " + in_quotes(c.name) + ": expr", tbl.get("expr")->source(), problems);
  }
  if (auto d = get_string(tbl, "description", problems, at)) c.description = *d;
  for (auto key : {"min", "max"}) {
    if (const toml::node* n = tbl.get(key)) {
      auto lit = to_literal(*n);
      if (!lit || !is_number(*lit)) {
        problems.add(n->source(), in_quotes(key) + " must be a number, not " + toml_type_name(*n));
      } else {
        (std::string_view(key) == "min" ? c.min : c.max) = lit;
      }
    }
  }
  if (const toml::node* n = tbl.get("in")) {
    const toml::array* arr = n->as_array();
    if (!arr || arr->empty()) {
      problems.add(n->source(), "'in' must be a non-empty array of strings or numbers");
    } else {
      for (const auto& item : *arr) {
        auto lit = to_literal(item);
        if (!lit) {
          problems.add(item.source(), "'in' values must be strings or numbers, not " + toml_type_name(item));
        } else {
          c.allowed.push_back(*lit);
        }
      }
    }
  }
  if (const toml::node* n = tbl.get("not_null")) {
    if (auto b = n->value<bool>(); b && n->is_boolean()) {
      c.not_null = *b;
    } else {
      problems.add(n->source(), "'not_null' must be true or false");
    }
  }
  const bool has_structure = c.min || c.max || !c.allowed.empty() || c.not_null;
  if (!c.expr.empty()) {
    if (has_structure) problems.add(at, "check " + in_quotes(c.name) + ": use either 'expr' or 'min'/'max'/'in'/'not_null', not both");
    if (!c.column.empty()) {
      problems.add(at, "check " + in_quotes(c.name) + ": 'column' belongs to structured checks; name the repaired column in 'repair'");
    }
  } else if (tbl.get("expr") == nullptr) {
    if (c.column.empty() && !tbl.get("column")) {
      problems.add(at, "check " + in_quotes(c.name) + " needs either 'expr' or a 'column' with 'min'/'max'/'in'/'not_null'");
    } else if (!has_structure && !c.column.empty()) {
      problems.add(at, "check " + in_quotes(c.name) + " on column " + in_quotes(c.column) + " needs 'min', 'max', 'in' or 'not_null'");
    }
    if (!c.allowed.empty() && (c.min || c.max)) {
      problems.add(at, "check " + in_quotes(c.name) + ": use either 'in' or 'min'/'max', not both");
    }
    if (c.min && c.max && as_double(*c.min) > as_double(*c.max)) {
      problems.add(at, "check " + in_quotes(c.name) + ": min " + literal_text(*c.min) + " is greater than max " + literal_text(*c.max));
    }
  }
  c.repair = parse_repair(tbl.get("repair"), at, problems);
  validate_check_repair(c, problems);
  return c;
}

Unique parse_unique(const toml::table& tbl, const toml::source_region& at, Problems& problems) {
  Unique u;
  u.where = problems.location(at);
  check_keys(tbl, {"name", "columns", "where", "description", "repair"}, "[[unique]]", problems);
  if (auto name = get_string(tbl, "name", problems, at)) {
    u.name = *name;
    vet_name(u.name, "constraint name", tbl.get("name")->source(), problems);
  } else if (!tbl.get("name")) {
    problems.add(at, "[[unique]] needs a 'name' (every constraint has an explicit, stable name)");
  }
  const toml::node* cols = tbl.get("columns");
  if (!cols) {
    problems.add(at, "unique " + in_quotes(u.name) + " needs 'columns'");
  } else if (const toml::array* arr = cols->as_array(); !arr || arr->empty()) {
    problems.add(cols->source(), "'columns' must be a non-empty array of column names");
  } else {
    for (const auto& item : *arr) {
      if (!item.is_string()) {
        problems.add(item.source(), "column names must be strings, not " + toml_type_name(item));
        continue;
      }
      std::string col = item.as_string()->get();
      vet_name(col, "column", item.source(), problems);
      if (std::find(u.columns.begin(), u.columns.end(), col) != u.columns.end()) {
        problems.add(item.source(), "column " + in_quotes(col) + " is listed twice");
      }
      u.columns.push_back(std::move(col));
    }
  }
  if (auto w = get_string(tbl, "where", problems, at)) {
    u.where_expr = *w;
    vet_expr(u.where_expr, "unique " + in_quotes(u.name) + ": where", tbl.get("where")->source(), problems);
  }
  if (auto d = get_string(tbl, "description", problems, at)) u.description = *d;
  u.repair = parse_repair(tbl.get("repair"), at, problems);
  if (u.repair.policy != RepairPolicy::report && u.repair.policy != RepairPolicy::delete_duplicates) {
    problems.add(u.repair.where, "repair of " + in_quotes(u.name) + ": a UNIQUE constraint can only be repaired by 'delete_duplicates' (or 'report')");
  }
  return u;
}

template <typename Fn>
void for_each_table_in_array(const toml::table& root, std::string_view key, Problems& problems, Fn&& fn) {
  const toml::node* n = root.get(key);
  if (!n) return;
  const toml::array* arr = n->as_array();
  if (!arr) {
    problems.add(n->source(), in_quotes(key) + " must be an array of tables ([[" + std::string(key) + "]]), not " + toml_type_name(*n));
    return;
  }
  for (const auto& item : *arr) {
    if (const toml::table* t = item.as_table()) {
      fn(*t, item.source());
    } else {
      problems.add(item.source(), "each [[" + std::string(key) + "]] entry must be a table, not " + toml_type_name(item));
    }
  }
}

Schema parse_into(std::string_view text, const std::string& file, Problems& problems) {
  Schema schema;
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    problems.add(e.source(), std::string(e.description()));
    return schema;
  }
  check_keys(root, {"table", "schema", "description", "check", "unique"}, "the file", problems);
  Table table;
  table.where = SourceLocation{file, 1, 1};
  if (const toml::node* n = root.get("table")) {
    table.where = problems.location(n->source());
    if (n->is_string()) {
      table.name.name = n->as_string()->get();
      vet_name(table.name.name, "table name", n->source(), problems);
    } else {
      problems.add(n->source(), "'table' must be a string, not " + toml_type_name(*n));
    }
  } else {
    problems.add(table.where, "missing 'table = \"name\"' at the top of the file");
  }
  if (const toml::node* n = root.get("schema")) {
    table.schema_where = problems.location(n->source());
    if (n->is_string()) {
      table.name.schema = n->as_string()->get();
      vet_name(table.name.schema, "schema name", n->source(), problems);
    } else {
      problems.add(n->source(), "'schema' must be a string, not " + toml_type_name(*n));
    }
  }
  for_each_table_in_array(root, "check", problems, [&](const toml::table& t, const toml::source_region& at) {
    table.checks.push_back(parse_check(t, at, problems));
  });
  for_each_table_in_array(root, "unique", problems, [&](const toml::table& t, const toml::source_region& at) {
    table.uniques.push_back(parse_unique(t, at, problems));
  });
  if (table.checks.empty() && table.uniques.empty() && !table.name.name.empty()) {
    problems.add(table.where, "table " + in_quotes(table.name.str()) + " declares no [[check]] or [[unique]]");
  }
  schema.tables.push_back(std::move(table));
  return schema;
}

// Names must be unique across the whole schema: PostgreSQL puts unique
// constraints' indexes in one namespace per schema, and messages name them alone.
void check_cross_file(const Schema& schema, Problems& problems) {
  std::map<TableName, SourceLocation> tables;
  std::map<std::string, SourceLocation> names;
  auto claim = [&](const std::string& name, const SourceLocation& at) {
    if (name.empty()) return;
    auto [it, fresh] = names.emplace(name, at);
    if (!fresh) problems.add(at, "duplicate constraint name '" + name + "' (first declared at " + it->second.str() + ")");
  };
  for (const auto& t : schema.tables) {
    if (t.name.name.empty()) continue;
    auto [it, fresh] = tables.emplace(t.name, t.where);
    if (!fresh)
      problems.add(t.where, "table '" + t.name.str() + "' is declared again (first at " + it->second.str() + ")");
    for (const auto& c : t.checks) claim(c.name, c.where);
    for (const auto& u : t.uniques) claim(u.name, u.where);
  }
}

}  // namespace

Schema parse_schema_text(std::string_view text, const std::string& file) {
  Problems problems(file);
  Schema schema = parse_into(text, file, problems);
  check_cross_file(schema, problems);
  if (!problems.lines().empty()) problems.raise("invalid schema:");
  return schema;
}

Schema load_schema_dir(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (ec && ec != std::errc::no_such_file_or_directory) {
      throw UsageError("schema directory '" + dir.string() + "' cannot be read: " + ec.message());
    }
    throw UsageError("schema directory '" + dir.string() + "' does not exist (run from the project directory, or pass --project / --schema)");
  }
  std::vector<fs::path> files;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    // The error_code forms: a symlink loop (or a dangling link) among the
    // files must be a usage error naming it, not an exception from deep in
    // std::filesystem.
    std::error_code entry_ec;
    const bool regular = it->is_regular_file(entry_ec);
    if (entry_ec && (it->path().extension() == ".toml" || entry_ec == std::errc::too_many_symbolic_link_levels)) {
      throw UsageError("schema file '" + it->path().lexically_normal().string() + "' cannot be read: " + entry_ec.message());
    }
    if (regular && it->path().extension() == ".toml") files.push_back(it->path());
  }
  if (ec) throw UsageError("schema directory '" + dir.string() + "' cannot be listed: " + ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw UsageError("schema directory '" + dir.string() + "' has no *.toml files");

  Schema schema;
  Problems all("");
  for (const auto& path : files) {
    const std::string name = path.lexically_normal().string();
    Problems problems(name);
    if (fs::file_size(path, ec) > kMaxFileBytes) {
      problems.add(SourceLocation{name, 0, 0}, "file is larger than 4 MiB; a schema file this size is a mistake");
      all.append(problems);
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      problems.add(SourceLocation{name, 0, 0}, "cannot read file");
      all.append(problems);
      continue;
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    Schema one = parse_into(buf.str(), name, problems);
    all.append(problems);
    for (auto& t : one.tables) schema.tables.push_back(std::move(t));
  }
  check_cross_file(schema, all);
  if (!all.lines().empty()) all.raise("invalid schema:");
  return schema;
}

}  // namespace cc::model
