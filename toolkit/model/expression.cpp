#include "model/expression.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "core/error.h"
#include "core/sql_lexer.h"

namespace cc::model {
namespace {

// Words that are operators or literals in an expression rather than column
// names. Only used to choose sample columns, so being generous is harmless.
constexpr std::array<std::string_view, 30> kKeywords = {
    "AND", "OR", "NOT", "NULL", "IS", "IN", "BETWEEN", "LIKE", "GLOB", "ILIKE", "ESCAPE", "CASE", "WHEN", "THEN", "ELSE",
    "END", "TRUE", "FALSE", "CAST", "AS", "COLLATE", "DISTINCT", "FROM", "SIMILAR", "TO", "ISNULL", "NOTNULL", "INTEGER",
    "TEXT", "REAL"};

bool is_keyword(const sql::Token& t) {
  return std::any_of(kKeywords.begin(), kKeywords.end(), [&](std::string_view k) { return t.is_word(k); });
}

}  // namespace

std::string vet_expression(std::string_view expr) {
  if (expr.find('\0') != std::string_view::npos) return "contains a NUL character";
  std::vector<sql::Token> tokens;
  try {
    tokens = sql::tokenize(expr);
  } catch (const Error& e) {
    return e.what();
  }
  auto sig = sql::significant(tokens);
  if (sig.empty()) return "is empty";
  int depth = 0;
  const sql::Token* previous = nullptr;  // the last token that is not a space
  for (size_t i = 0; i < tokens.size(); ++i) {
    const auto& t = tokens[i];
    const sql::Token* before = previous;
    if (t.kind != sql::TokenKind::space && t.kind != sql::TokenKind::comment) previous = &t;
    const std::string at = " at character " + std::to_string(t.offset + 1);
    switch (t.kind) {
      case sql::TokenKind::comment:
        return "contains a comment" + at + " (comments are not allowed in expressions)";
      case sql::TokenKind::parameter:
        return "contains a parameter or dollar quote '" + std::string(t.text) + "'" + at;
      case sql::TokenKind::string:
        if (t.text.find('\\') != std::string_view::npos) {
          return "contains a backslash in a string literal" + at + " (its meaning differs between databases)";
        }
        if (i > 0 && tokens[i - 1].kind == sql::TokenKind::word && tokens[i - 1].text.size() == 1 && !tokens[i - 1].is_word("X")) {
          return "uses a prefixed string literal " + std::string(tokens[i - 1].text) + "'...'" + at;
        }
        break;
      case sql::TokenKind::quoted_identifier:
        if (t.text.front() != '"') return "quotes an identifier with " + std::string(1, t.text.front()) + at + " (use double quotes)";
        break;
      case sql::TokenKind::word:
        // TIMESTAMP WITH TIME ZONE '...' is a typed literal, not a CTE.
        if (t.is_word("WITH") && before && (before->is_word("TIMESTAMP") || before->is_word("TIME"))) break;
        if (t.is_word("SELECT") || t.is_word("WITH") || t.is_word("VALUES")) {
          return "contains a subquery (" + std::string(t.text) + at + "); a constraint can only look at its own row";
        }
        break;
      case sql::TokenKind::punct:
        if (t.text == ";") return "contains ';'" + at + " (one expression, not statements)";
        if (t.text == "(") ++depth;
        if (t.text == ")" && --depth < 0) return "has an unbalanced ')'" + at;
        break;
      default:
        break;
    }
  }
  if (depth != 0) return "has " + std::to_string(depth) + " unclosed '('";
  return {};
}

std::vector<std::string> expression_identifiers(std::string_view expr) {
  std::vector<std::string> out;
  std::vector<sql::Token> sig;
  try {
    sig = sql::significant(sql::tokenize(expr));
  } catch (const Error&) {
    return out;
  }
  for (size_t i = 0; i < sig.size(); ++i) {
    const auto& t = sig[i];
    if (t.kind != sql::TokenKind::word && t.kind != sql::TokenKind::quoted_identifier) continue;
    if (t.kind == sql::TokenKind::word && is_keyword(t)) continue;
    if (i + 1 < sig.size() && sig[i + 1].is("(")) continue;  // function call
    if (i > 0 && sig[i - 1].is("::")) continue;              // type in a cast
    std::string name = sql::identifier_name(t);
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
  }
  return out;
}

std::string vet_identifier(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > 63) return "is " + std::to_string(name.size()) + " bytes long (at most 63, PostgreSQL's limit)";
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return "contains a control character";
  }
  return {};
}

std::string printable(std::string_view name) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace cc::model
