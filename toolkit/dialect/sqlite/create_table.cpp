#include "dialect/sqlite/create_table.h"

#include "core/error.h"
#include "core/sql_lexer.h"
#include "dialect/dialect.h"

#include <algorithm>

namespace cc::dialect::sqlite {
namespace {

using sql::Token;

[[noreturn]] void fail(const std::string& why) { throw DatabaseError("cannot read CREATE TABLE text: " + why); }

// Index of the ')' matching the '(' at sig[open].
size_t matching_paren(const std::vector<Token>& sig, size_t open) {
  int depth = 0;
  for (size_t i = open; i < sig.size(); ++i) {
    if (sig[i].is("(")) ++depth;
    if (sig[i].is(")") && --depth == 0) return i;
  }
  fail("unbalanced parentheses");
}

bool is_name(const Token& t) {
  return t.kind == sql::TokenKind::word || t.kind == sql::TokenKind::quoted_identifier || t.kind == sql::TokenKind::string;
}

std::string name_of(const Token& t) {
  if (t.kind == sql::TokenKind::string) {  // SQLite accepts 'name' as an identifier in places
    std::string s(t.text.substr(1, t.text.size() - 2));
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      out += s[i];
      if (s[i] == '\'' && i + 1 < s.size() && s[i + 1] == '\'') ++i;
    }
    return out;
  }
  return sql::identifier_name(t);
}

std::vector<std::string> column_list(const std::vector<Token>& sig, size_t open, size_t close) {
  std::vector<std::string> cols;
  bool expect = true;
  int depth = 0;
  for (size_t i = open + 1; i < close; ++i) {
    if (sig[i].is("(")) ++depth;
    if (sig[i].is(")")) --depth;
    if (depth == 0 && sig[i].is(",")) {
      expect = true;
    } else if (expect && depth == 0 && is_name(sig[i])) {
      cols.push_back(name_of(sig[i]));
      expect = false;
    }
  }
  return cols;
}

// Reads the constraint keywords in sig[from, to): a table constraint when
// `column` is empty, else the constraints of that column definition.
void read_constraints(std::string_view text, const std::vector<Token>& sig, size_t from, size_t to, const std::string& column,
                      std::vector<Clause>& out) {
  std::string pending_name;
  size_t pending_begin = std::string::npos;
  for (size_t i = from; i < to; ++i) {
    const Token& t = sig[i];
    if (t.is_word("CONSTRAINT") && i + 1 < to) {
      pending_name = name_of(sig[i + 1]);
      pending_begin = t.offset;
      ++i;
      continue;
    }
    Clause c;
    c.column_level = !column.empty();
    c.name = pending_name;
    c.begin = pending_begin != std::string::npos ? pending_begin : t.offset;
    bool matched = true;
    size_t last = i;
    if (t.is_word("CHECK") && i + 1 < to && sig[i + 1].is("(")) {
      size_t close = matching_paren(sig, i + 1);
      c.kind = Clause::Kind::check;
      size_t body_begin = sig[i + 1].offset + 1;
      c.body = std::string(text.substr(body_begin, sig[close].offset - body_begin));
      if (!column.empty()) c.columns = {column};
      last = close;
    } else if (t.is_word("UNIQUE") || (t.is_word("PRIMARY") && i + 1 < to && sig[i + 1].is_word("KEY"))) {
      c.kind = t.is_word("UNIQUE") ? Clause::Kind::unique : Clause::Kind::primary_key;
      size_t j = t.is_word("UNIQUE") ? i + 1 : i + 2;
      if (column.empty() && j < to && sig[j].is("(")) {
        size_t close = matching_paren(sig, j);
        c.columns = column_list(sig, j, close);
        last = close;
      } else {
        c.columns = {column};
        last = j - 1;
      }
    } else if (t.is_word("FOREIGN") || (t.is_word("REFERENCES") && !column.empty())) {
      c.kind = Clause::Kind::foreign_key;
      if (!column.empty()) {
        c.columns = {column};
      } else if (i + 2 < to && sig[i + 1].is_word("KEY") && sig[i + 2].is("(")) {
        c.columns = column_list(sig, i + 2, matching_paren(sig, i + 2));
      }
      last = i;
      // A foreign key runs to the next constraint keyword; its end offset is
      // only needed for table constraints, where it runs to the next table
      // constraint (SQLite needs no comma between them) or the clause end.
      if (column.empty()) {
        last = to - 1;
        int depth = 0;
        for (size_t j = i + 1; j < to; ++j) {
          if (sig[j].is("(")) ++depth;
          if (sig[j].is(")")) --depth;
          if (depth == 0 && (sig[j].is_word("CONSTRAINT") || sig[j].is_word("CHECK") || sig[j].is_word("UNIQUE") ||
                             sig[j].is_word("FOREIGN") || sig[j].is_word("PRIMARY"))) {
            last = j - 1;
            break;
          }
        }
      }
    } else {
      matched = false;
    }
    if (matched) {
      c.end = sig[last].offset + sig[last].text.size();
      out.push_back(std::move(c));
      pending_name.clear();
      pending_begin = std::string::npos;
      i = last;
    }
  }
}

}  // namespace

CreateTable parse_create_table(std::string_view text) {
  auto sig = sql::significant(sql::tokenize(text));
  if (sig.size() < 4 || !sig[0].is_word("CREATE")) fail("not a CREATE statement");
  size_t open = 0;
  for (size_t i = 0; i < sig.size(); ++i) {
    if (sig[i].is("(")) {
      open = i;
      break;
    }
    if (sig[i].is_word("AS")) fail("CREATE TABLE ... AS SELECT has no definitions");
  }
  if (open == 0) fail("no column definitions");
  const size_t close = matching_paren(sig, open);
  CreateTable out;
  out.body_open = sig[open].offset;
  out.body_close = sig[close].offset;
  for (size_t i = close + 1; i < sig.size(); ++i) {
    if (sig[i].is_word("ROWID") && i > 0 && sig[i - 1].is_word("WITHOUT")) out.without_rowid = true;
    if (sig[i].is_word("STRICT")) out.strict = true;
  }
  // Split the definitions at top-level commas.
  size_t start = open + 1;
  int depth = 0;
  for (size_t i = open + 1; i <= close; ++i) {
    if (i < close && sig[i].is("(")) ++depth;
    if (i < close && sig[i].is(")")) --depth;
    if (i == close || (depth == 0 && sig[i].is(","))) {
      if (start < i) {
        const Token& first = sig[start];
        const bool table_constraint = first.is_word("CONSTRAINT") || first.is_word("CHECK") || first.is_word("UNIQUE") ||
                                      first.is_word("FOREIGN") || (first.is_word("PRIMARY") && start + 1 < i && sig[start + 1].is_word("KEY"));
        if (table_constraint) {
          read_constraints(text, sig, start, i, "", out.clauses);
          if (!out.clauses.empty()) out.clauses.back().end = sig[i - 1].offset + sig[i - 1].text.size();
        } else {
          Clause col;
          col.kind = Clause::Kind::column;
          col.name = name_of(first);
          col.begin = first.offset;
          col.end = sig[i - 1].offset + sig[i - 1].text.size();
          out.clauses.push_back(col);
          read_constraints(text, sig, start + 1, i, col.name, out.clauses);
        }
      }
      start = i + 1;
    }
  }
  return out;
}

}  // namespace cc::dialect::sqlite

namespace cc::dialect::sqlite {

std::string edit_create_table(std::string_view text, const std::vector<std::string>& drop, const std::vector<CheckToAdd>& add,
                              std::string_view new_name) {
  const CreateTable parsed = parse_create_table(text);
  const auto sig = sql::significant(sql::tokenize(text));
  struct Cut {
    size_t begin, end;
  };
  std::vector<Cut> cuts;
  for (const auto& name : drop) {
    const Clause* found = nullptr;
    for (const auto& c : parsed.clauses) {
      // An unnamed CHECK (adopted, never created by constraintctl) is named by its condition text.
      if (c.kind == Clause::Kind::check && (sqlite_dialect().same_name(c.name, name) || (c.name.empty() && c.body == name))) found = &c;
    }
    if (!found) throw Error(ExitCode::findings, "CHECK constraint '" + name + "' is not in the table's definition (drift)");
    size_t begin = found->begin;
    if (!found->column_level) {
      // Take the separating comma before a table constraint with it.
      for (size_t i = 0; i < sig.size() && sig[i].offset < found->begin; ++i) {
        if (sig[i].is(",")) begin = sig[i].offset;
      }
    } else {
      // Take the whitespace before a column constraint with it.
      while (begin > 0 && (text[begin - 1] == ' ' || text[begin - 1] == '\t')) --begin;
    }
    cuts.push_back({begin, found->end});
  }
  std::string out(text);
  std::sort(cuts.begin(), cuts.end(), [](const Cut& a, const Cut& b) { return a.begin > b.begin; });
  // The end of the last definition: new constraints go right after it.
  size_t insert_at = 0;
  for (const auto& t : sig) {
    if (t.offset < parsed.body_close) insert_at = t.offset + t.text.size();
  }
  std::string added;
  for (const auto& a : add) {
    added += ",\n  CONSTRAINT " + sqlite_dialect().quote_ident(a.name) + " CHECK (" + a.expr + ")";
  }
  out.insert(insert_at, added);
  for (const auto& c : cuts) out.erase(c.begin, c.end - c.begin);  // all before insert_at, from the back
  if (!new_name.empty()) {
    // CREATE [TEMP] TABLE [IF NOT EXISTS] name (
    size_t i = 0;
    while (i < sig.size() && !sig[i].is_word("TABLE")) ++i;
    ++i;
    if (i + 2 < sig.size() && sig[i].is_word("IF") && sig[i + 1].is_word("NOT") && sig[i + 2].is_word("EXISTS")) i += 3;
    size_t name_begin = sig[i].offset, name_end = name_begin;
    for (; i < sig.size() && !sig[i].is("("); ++i) name_end = sig[i].offset + sig[i].text.size();
    out.replace(name_begin, name_end - name_begin, sqlite_dialect().quote_ident(new_name));
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> check_bodies(std::string_view sql) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t keywords = 0;
  try {
    for (const auto& c : parse_create_table(sql).clauses) {
      if (c.kind == Clause::Kind::check) out.emplace_back(c.name, c.body);
    }
    const auto sig = sql::significant(sql::tokenize(sql));
    for (size_t i = 0; i + 1 < sig.size(); ++i) keywords += sig[i].is_word("CHECK") && sig[i + 1].is("(") ? 1 : 0;
  } catch (const Error&) {
    return std::nullopt;
  }
  if (keywords != out.size()) return std::nullopt;
  return out;
}

}  // namespace cc::dialect::sqlite
