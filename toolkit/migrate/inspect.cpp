#include "migrate/inspect.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/sql_lexer.h"
#include "migrate/diff.h"
#include "model/expression.h"
#include "model/schema_loader.h"
#include "scan/scan_sql.h"

#include "model/toml_support.h"

namespace cc::migrate {
namespace {

using Toks = std::vector<sql::Token>;
using model::toml_string;
using ExistingKind = dialect::ExistingConstraint::Kind;


std::string toml_literal(const model::Literal& v) {
  if (auto i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (auto d = std::get_if<double>(&v)) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *d);
    std::string s(buf, ec == std::errc() ? end : buf);
    if (s.find_first_of(".eE") == std::string::npos) s += ".0";
    return s;
  }
  return toml_string(std::get<std::string>(v));
}

// Parentheses that enclose the whole token list, removed.
Toks strip_parens(Toks t) {
  for (;;) {
    if (t.size() < 2 || !t.front().is("(") || !t.back().is(")")) return t;
    int depth = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i].is("(")) ++depth;
      if (t[i].is(")")) --depth;
      if (depth == 0 && i + 1 < t.size()) return t;
    }
    t = Toks(t.begin() + 1, t.end() - 1);
  }
}

// Top-level AND-ed parts (the AND of a BETWEEN stays inside its part).
std::vector<Toks> split_and(const Toks& t) {
  std::vector<Toks> out(1);
  int depth = 0;
  bool between = false;
  for (const auto& tok : t) {
    if (tok.is("(")) ++depth;
    if (tok.is(")")) --depth;
    if (depth == 0 && tok.is_word("BETWEEN")) between = true;
    if (depth == 0 && tok.is_word("AND")) {
      if (between) {
        between = false;
      } else {
        out.emplace_back();
        continue;
      }
    }
    out.back().push_back(tok);
  }
  return out;
}

bool reserved(const sql::Token& t) {
  for (const char* k : {"AND", "OR", "NOT", "NULL", "IS", "IN", "BETWEEN", "ANY", "ARRAY", "TRUE", "FALSE", "CASE"}) {
    if (t.is_word(k)) return true;
  }
  return false;
}

// ::type casts PostgreSQL writes back (::text, ::character varying, ::text[]).
void skip_cast(const Toks& t, size_t& i) {
  while (i < t.size() && t[i].is("::")) {
    ++i;
    while (i < t.size() && t[i].kind == sql::TokenKind::word) ++i;
    if (i < t.size() && t[i].is("(")) {
      while (i < t.size() && !t[i].is(")")) ++i;
      if (i < t.size()) ++i;
    }
    if (i < t.size() && t[i].kind == sql::TokenKind::quoted_identifier && t[i].text == "[]") ++i;
  }
}

bool parse_column(const Toks& t, size_t& i, std::string& column) {
  if (i + 2 < t.size() && t[i].is("(") && t[i + 2].is(")")) {  // (col)::text
    size_t j = i + 1;
    if (!parse_column(t, j, column) || j != i + 2) return false;
    i += 3;
    skip_cast(t, i);
    return true;
  }
  if (i >= t.size()) return false;
  if (t[i].kind == sql::TokenKind::word && !reserved(t[i])) {
    column = std::string(t[i].text);
  } else if (t[i].kind == sql::TokenKind::quoted_identifier && t[i].text.front() == '"') {
    column = sql::identifier_name(t[i]);
  } else {
    return false;
  }
  ++i;
  skip_cast(t, i);
  return true;
}

std::optional<model::Literal> number(std::string_view text, bool negative) {
  if (text.empty() || text.find_first_of("xX") != std::string_view::npos) return std::nullopt;
  const std::string s = (negative ? "-" : "") + std::string(text);
  if (s.find_first_of(".eE") == std::string::npos) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size()) return v;
    return std::nullopt;
  }
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec == std::errc() && end == s.data() + s.size()) return d;
  return std::nullopt;
}

bool parse_literal(const Toks& t, size_t& i, model::Literal& out) {
  if (i >= t.size()) return false;
  if (t[i].is("(")) {
    ++i;
    if (!parse_literal(t, i, out) || i >= t.size() || !t[i].is(")")) return false;
    ++i;
    skip_cast(t, i);
    return true;
  }
  bool negative = false;
  if (t[i].is("-")) {
    negative = true;
    ++i;
  }
  if (i >= t.size()) return false;
  if (t[i].kind == sql::TokenKind::number) {
    auto n = number(t[i].text, negative);
    if (!n) return false;
    out = *n;
    ++i;
    skip_cast(t, i);
    return true;
  }
  if (negative || t[i].kind != sql::TokenKind::string || t[i].text.size() < 2 || t[i].text.front() != '\'')
    return false;
  std::string s;
  const auto body = t[i].text.substr(1, t[i].text.size() - 2);
  for (size_t k = 0; k < body.size(); ++k) {
    s += body[k];
    if (body[k] == '\'' && k + 1 < body.size() && body[k + 1] == '\'') ++k;
  }
  ++i;
  const bool cast = i < t.size() && t[i].is("::");
  skip_cast(t, i);
  // '-5'::integer is how PostgreSQL writes a negative bound.
  if (cast) {
    if (auto n =
            number(s.rfind('-', 0) == 0 ? std::string_view(s).substr(1) : std::string_view(s), s.rfind('-', 0) == 0)) {
      out = *n;
      return true;
    }
  }
  out = s;
  return true;
}

bool parse_list(const Toks& t, size_t& i, std::vector<model::Literal>& out, std::string_view close) {
  for (;;) {
    model::Literal v;
    if (!parse_literal(t, i, v)) return false;
    out.push_back(std::move(v));
    if (i < t.size() && t[i].is(",")) {
      ++i;
      continue;
    }
    if (close.empty()) return i == t.size();
    if (i < t.size() && t[i].is(close)) {
      ++i;
      return true;
    }
    return false;
  }
}

bool is_number(const model::Literal& v) { return !std::holds_alternative<std::string>(v); }

// The structured form of a condition: one column, AND-ed parts, each a NOT
// NULL, a >= / <= bound, a BETWEEN, an IN list or PostgreSQL's = ANY (ARRAY[...]).
std::optional<model::Check> structured_form(std::string_view condition) {
  Toks all;
  try {
    all = sql::significant(sql::tokenize(condition));
  } catch (const Error&) {
    return std::nullopt;
  }
  model::Check c;
  for (auto part : split_and(strip_parens(all))) {
    part = strip_parens(part);
    size_t i = 0;
    std::string column;
    if (!parse_column(part, i, column)) return std::nullopt;
    if (!c.column.empty() && c.column != column) return std::nullopt;
    c.column = column;
    if (i + 3 == part.size() && part[i].is_word("IS") && part[i + 1].is_word("NOT") && part[i + 2].is_word("NULL")) {
      if (c.not_null) return std::nullopt;
      c.not_null = true;
      continue;
    }
    if (i >= part.size()) return std::nullopt;
    if (part[i].is(">=") || part[i].is("<=")) {
      const bool lower = part[i].is(">=");
      ++i;
      model::Literal v;
      if (!parse_literal(part, i, v) || i != part.size() || !is_number(v)) return std::nullopt;
      auto& slot = lower ? c.min : c.max;
      if (slot) return std::nullopt;
      slot = v;
      continue;
    }
    if (part[i].is_word("BETWEEN")) {
      ++i;
      model::Literal lo, hi;
      if (!parse_literal(part, i, lo) || i >= part.size() || !part[i].is_word("AND")) return std::nullopt;
      ++i;
      if (!parse_literal(part, i, hi) || i != part.size() || !is_number(lo) || !is_number(hi) || c.min || c.max)
        return std::nullopt;
      c.min = lo;
      c.max = hi;
      continue;
    }
    if (!c.allowed.empty()) return std::nullopt;
    if (part[i].is_word("IN") && i + 1 < part.size() && part[i + 1].is("(")) {
      i += 2;
      if (!parse_list(part, i, c.allowed, ")") || i != part.size()) return std::nullopt;
      continue;
    }
    // = ANY (ARRAY[...]); the lexer reads SQLite's [ident] quoting, so the
    // bracketed list arrives as one token and is read on its own.
    if (part[i].is("=") && i + 4 < part.size() && part[i + 1].is_word("ANY") && part[i + 2].is("(") &&
        part[i + 3].is_word("ARRAY") && part[i + 4].kind == sql::TokenKind::quoted_identifier &&
        part[i + 4].text.front() == '[') {
      const auto inner = part[i + 4].text.substr(1, part[i + 4].text.size() - 2);
      Toks list;
      try {
        list = sql::significant(sql::tokenize(inner));
      } catch (const Error&) {
        return std::nullopt;
      }
      size_t k = 0;
      if (!parse_list(list, k, c.allowed, "")) return std::nullopt;
      i += 5;
      skip_cast(part, i);
      if (i + 1 != part.size() || !part[i].is(")")) return std::nullopt;
      continue;
    }
    return std::nullopt;
  }
  if (c.column.empty()) return std::nullopt;
  if (!c.allowed.empty() && (c.min || c.max)) return std::nullopt;  // the schema takes one or the other
  // An IN list of one kind only (the schema refuses a mix).
  if (!c.allowed.empty()) {
    const bool numbers = is_number(c.allowed.front());
    for (const auto& v : c.allowed) {
      if (is_number(v) != numbers) return std::nullopt;
    }
  }
  return c;
}

// The condition of a CHECK as the catalog renders it: PostgreSQL says
// "CHECK (cond)" (perhaps NOT VALID), SQLite keeps the bare condition text.
std::string condition_of(const dialect::ExistingConstraint& c) {
  std::string def = c.definition;
  for (const std::string suffix : {" NOT VALID", " NO INHERIT"}) {
    if (def.size() > suffix.size() && def.compare(def.size() - suffix.size(), suffix.size(), suffix) == 0)
      def.resize(def.size() - suffix.size());
  }
  if (def.rfind("CHECK (", 0) == 0 && def.back() == ')') return def.substr(7, def.size() - 8);
  return def;
}

// `text` without parentheses around the whole of it ("((a > 0))" -> "a > 0"),
// as constraintctl's own CHECK text reads back on SQLite.
std::string without_outer_parens(const std::string& text) {
  Toks toks;
  try {
    toks = strip_parens(sql::significant(sql::tokenize(text)));
  } catch (const Error&) {
    return text;
  }
  if (toks.empty()) return text;
  const size_t begin = toks.front().offset, end = toks.back().offset + toks.back().text.size();
  return text.substr(begin, end - begin);
}

// The partial predicate of a unique index definition (after a top-level WHERE).
std::string where_of(const dialect::ExistingConstraint& c) {
  if (c.kind != ExistingKind::unique_index) return "";
  Toks toks;
  try {
    toks = sql::significant(sql::tokenize(c.definition));
  } catch (const Error&) {
    return "";
  }
  int depth = 0;
  for (size_t i = 0; i < toks.size(); ++i) {
    if (toks[i].is("(")) ++depth;
    if (toks[i].is(")")) --depth;
    if (depth == 0 && toks[i].is_word("WHERE")) {
      Toks rest(toks.begin() + static_cast<long>(i) + 1, toks.end());
      rest = strip_parens(rest);
      if (rest.empty()) return "";
      const size_t begin = rest.front().offset, end = rest.back().offset + rest.back().text.size();
      return c.definition.substr(begin, end - begin);
    }
  }
  return "";
}

std::string safe_file_name(const std::string& table) {
  std::string s;
  for (unsigned char ch : table) s += std::isalnum(ch) ? static_cast<char>(std::tolower(ch)) : '_';
  if (s.size() > 80) s.resize(80);
  return s.empty() ? "table" : s;
}

// At most 63 bytes, never cutting a UTF-8 sequence.
std::string fit_name(std::string s) {
  if (s.size() <= 63) return s;
  size_t n = 63;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

std::string unique_name(const std::string& base, std::set<std::string>& taken) {
  std::string name = fit_name(base);
  for (int n = 2; taken.count(name); ++n) {
    const std::string suffix = "_" + std::to_string(n);
    name = fit_name(base.substr(0, std::min(base.size(), 63 - suffix.size()))) + suffix;
  }
  taken.insert(name);
  return name;
}

struct Pending {
  dialect::ExistingConstraint existing;
  model::Check check;    // CHECK (structured or raw)
  model::Unique unique;  // UNIQUE
  bool is_unique = false;
  bool structured = false;
};

}  // namespace

bool is_bookkeeping_table(const std::string& table) { return table.rfind("constraintctl_", 0) == 0; }

std::vector<InspectedTable> inspect(dialect::Connection& db, dialect::Migrator& migrator,
                                    const std::vector<std::string>& wanted, const std::string& source) {
  std::vector<std::string> tables;
  if (wanted.empty()) {
    for (auto& t : db.list_tables()) {
      if (!is_bookkeeping_table(t)) tables.push_back(std::move(t));
    }
  } else {
    for (const auto& t : wanted) {
      if (is_bookkeeping_table(t))
        throw UsageError("--table " + t + ": constraintctl's own bookkeeping table; never inspected");
      if (std::find(tables.begin(), tables.end(), t) == tables.end()) tables.push_back(t);
    }
  }
  std::vector<dialect::TableInfo> infos;
  std::map<std::string, std::string> named;  // constraint name -> table, across every table
  for (const auto& t : tables) {
    auto info = db.inspect_table(model::TableName{t});
    if (!info.exists) throw UsageError("--table " + t + ": no such table in the database; nothing was written");
    for (const auto& c : info.constraints) {
      if (c.name.empty() ||
          (c.kind != ExistingKind::check && c.kind != ExistingKind::unique && c.kind != ExistingKind::unique_index))
        continue;
      auto [it, fresh] = named.emplace(c.name, t);
      if (!fresh && it->second != t) {
        throw UsageError(
            "constraint name '" + c.name + "' exists on table '" + it->second + "' and on table '" + t +
            "'; schema/ needs names unique across the whole schema. Rename one in the database (ALTER TABLE ... "
            "RENAME CONSTRAINT) or inspect the tables into separate projects with --table; nothing was written");
      }
    }
    infos.push_back(std::move(info));
  }
  std::set<std::string> taken;
  for (const auto& [name, table] : named) taken.insert(name);
  std::set<std::string> files;
  std::vector<InspectedTable> out;
  for (const auto& info : infos) {
    InspectedTable it;
    it.table = info.name.name;
    std::string file = safe_file_name(info.name.name);
    for (int n = 2; files.count(file); ++n) file = safe_file_name(info.name.name) + "_" + std::to_string(n);
    files.insert(file);
    it.file_name = file + ".toml";
    std::vector<Pending> pending;
    for (const auto& c : info.constraints) {
      const std::string shown = c.name.empty() ? "an unnamed " + std::string(dialect::to_string(c.kind))
                                               : std::string(dialect::to_string(c.kind)) + " " + c.name;
      if (c.kind == ExistingKind::check) {
        Pending p;
        p.existing = c;
        const std::string condition = without_outer_parens(condition_of(c));
        auto declared = [&](const model::Check& check) {
          ConstraintDef d;
          d.table = info.name;
          d.name = c.name.empty() ? "cc_inspect_probe" : c.name;
          d.check = scan::check_predicate(check, dialect::sqlite_dialect());
          return d;
        };
        if (auto s = structured_form(condition); s && migrator.definition_difference(declared(*s), c).empty()) {
          p.check = *s;
          p.structured = true;
        } else {
          if (const std::string why = model::vet_expression(condition); !why.empty()) {
            it.skipped.push_back(shown + " (" + c.definition + "): its condition " + why);
            continue;
          }
          p.check.expr = condition;
          if (!migrator.definition_difference(declared(p.check), c).empty()) {
            it.skipped.push_back(shown + " (" + c.definition + "): its condition does not read back the same");
            continue;
          }
        }
        pending.push_back(std::move(p));
      } else if (c.kind == ExistingKind::unique || c.kind == ExistingKind::unique_index) {
        const bool expression =
            c.columns.empty() || std::any_of(c.columns.begin(), c.columns.end(), [](const std::string& col) {
              return col.empty() || col == "(expression)";
            });
        if (expression) {
          it.skipped.push_back(shown + " (" + c.definition +
                               "): an expression index cannot be declared as [[unique]] columns");
          continue;
        }
        Pending p;
        p.existing = c;
        p.is_unique = true;
        p.unique.columns = c.columns;
        p.unique.where_expr = where_of(c);
        if (!p.unique.where_expr.empty()) {
          if (const std::string why = model::vet_expression(p.unique.where_expr); !why.empty()) {
            it.skipped.push_back(shown + " (" + c.definition + "): its WHERE " + why);
            continue;
          }
        }
        ConstraintDef d;
        d.table = info.name;
        d.name = c.name.empty() ? "cc_inspect_probe" : c.name;
        d.unique = true;
        d.columns = p.unique.columns;
        d.where = p.unique.where_expr;
        if (const std::string diff = migrator.definition_difference(d, c); !diff.empty()) {
          it.skipped.push_back(shown + " (" + c.definition + "): does not read back the same (" + diff + ")");
          continue;
        }
        pending.push_back(std::move(p));
      }
    }
    if (pending.empty()) {  // nothing to declare: no file
      out.push_back(std::move(it));
      continue;
    }
    // Names: kept; an unnamed constraint gets one made from its table and
    // columns, unique across the schema, the same on every run.
    std::string toml =
        "# The constraints table " + toml_string(info.name.name) + " had when `constraintctl inspect` read " + source +
        ".\n# They existed before constraintctl: its baseline migration adopts them (no DDL), and rollback\n"
        "# never drops them; drop-checks drops an adopted CHECK only when named with --constraint.\n";
    toml += "table = " + toml_string(info.name.name) + "\n";
    for (const auto& s : it.skipped) toml += "# not declared: " + s + "\n";
    for (auto& p : pending) {
      std::string name = p.existing.name;
      if (name.empty()) {
        std::string base = info.name.name + "_";
        if (p.is_unique) {
          for (const auto& col : p.unique.columns) base += col + "_";
          base += "key";
        } else {
          base += (p.structured ? p.check.column + "_" : std::string()) + "check";
        }
        name = unique_name(base, taken);
      }
      toml += p.is_unique ? "\n[[unique]]\n" : "\n[[check]]\n";
      if (p.existing.name.empty()) {
        toml += "# unnamed in the database (" + p.existing.definition +
                "): this name is constraintctl's, matched by the definition\n";
      }
      toml += "name = " + toml_string(name) + "\n";
      if (p.is_unique) {
        toml += "columns = [";
        for (size_t i = 0; i < p.unique.columns.size(); ++i) toml += (i ? ", " : "") + toml_string(p.unique.columns[i]);
        toml += "]\n";
        if (!p.unique.where_expr.empty()) toml += "where = " + toml_string(p.unique.where_expr) + "\n";
      } else if (p.structured) {
        toml += "column = " + toml_string(p.check.column) + "\n";
        if (p.check.not_null) toml += "not_null = true\n";
        if (p.check.min) toml += "min = " + toml_literal(*p.check.min) + "\n";
        if (p.check.max) toml += "max = " + toml_literal(*p.check.max) + "\n";
        if (!p.check.allowed.empty()) {
          toml += "in = [";
          for (size_t i = 0; i < p.check.allowed.size(); ++i)
            toml += (i ? ", " : "") + toml_literal(p.check.allowed[i]);
          toml += "]\n";
        }
      } else {
        toml += "expr = " + toml_string(p.check.expr) + "\n";
      }
      if (!p.existing.valid) toml += "# NOT VALID in the database: rows that predate it were never checked\n";
      toml += "repair = \"report\"\n";
      Found f;
      f.existing = p.existing;
      f.def.name = name;
      f.generated_name = p.existing.name.empty();
      f.structured = p.is_unique || p.structured;
      it.found.push_back(std::move(f));
    }
    // The definitions exactly as `generate` reads them back from the file.
    const State state = declared_state(model::parse_schema_text(toml, "schema/" + it.file_name));
    for (auto& f : it.found) f.def = state.at(f.def.name);
    it.toml = std::move(toml);
    out.push_back(std::move(it));
  }
  return out;
}

std::vector<Operation> baseline_operations(const std::vector<InspectedTable>& tables, const State& built) {
  std::vector<Operation> ops;
  for (const auto& t : tables) {
    for (const auto& f : t.found) {
      auto it = built.find(f.def.name);
      if (it != built.end() && it->second.same_definition(f.def)) continue;
      if (it != built.end()) {
        throw UsageError(t.file_name + ": " + f.def.name + " is " + f.def.describe() +
                         " in the database but the migrations build " + it->second.describe() +
                         "; fix schema/ and run `constraintctl generate` instead; nothing was written");
      }
      ops.push_back(Operation{f.def.unique ? OpKind::add_unique : OpKind::add_check, f.def});
    }
  }
  return ops;
}

}  // namespace cc::migrate
