#include "core/sql_lexer.h"

#include <cctype>
#include <string>

#include "core/error.h"

namespace cc::sql {
namespace {

bool is_ident_start(unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; }
bool is_ident_part(unsigned char c) { return std::isalnum(c) || c == '_' || c == '$' || c >= 0x80; }

[[noreturn]] void fail(std::string_view what, size_t offset) {
  throw UsageError(std::string(what) + " at character " + std::to_string(offset + 1));
}

// Length of a quoted run starting at `pos` that ends with `close`; a doubled
// `close` inside stands for itself when `doubling` is set.
size_t quoted_length(std::string_view s, size_t pos, char close, bool doubling, std::string_view what) {
  size_t i = pos + 1;
  while (i < s.size()) {
    if (s[i] == close) {
      if (doubling && i + 1 < s.size() && s[i + 1] == close) {
        i += 2;
        continue;
      }
      return i + 1 - pos;
    }
    ++i;
  }
  fail(std::string("unterminated ") + std::string(what), pos);
}

}  // namespace

bool Token::is_word(std::string_view upper) const {
  if (kind != TokenKind::word || text.size() != upper.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(text[i])) != upper[i]) return false;
  }
  return true;
}

std::vector<Token> tokenize(std::string_view s) {
  static constexpr std::string_view two_char_ops[] = {"<=", ">=", "<>", "!=", "||", "==", "<<", ">>", "::", "->"};
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t start = i;
    TokenKind kind;
    if (std::isspace(c)) {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
      kind = TokenKind::space;
    } else if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      while (i < s.size() && s[i] != '\n') ++i;
      kind = TokenKind::comment;
    } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      size_t end = s.find("*/", i + 2);
      if (end == std::string_view::npos) fail("unterminated comment", i);
      i = end + 2;
      kind = TokenKind::comment;
    } else if (c == '\'') {
      i += quoted_length(s, i, '\'', true, "string literal");
      kind = TokenKind::string;
    } else if (c == '"') {
      i += quoted_length(s, i, '"', true, "quoted identifier");
      kind = TokenKind::quoted_identifier;
    } else if (c == '`') {
      i += quoted_length(s, i, '`', true, "quoted identifier");
      kind = TokenKind::quoted_identifier;
    } else if (c == '[') {
      i += quoted_length(s, i, ']', false, "quoted identifier");
      kind = TokenKind::quoted_identifier;
    } else if (std::isdigit(c) || (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      if (c == '0' && i + 1 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        i += 2;
        while (i < s.size() && std::isxdigit(static_cast<unsigned char>(s[i]))) ++i;
      } else {
        while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == '_')) ++i;
        if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
          size_t j = i + 1;
          if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
          if (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) {
            i = j;
            while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
          }
        }
      }
      kind = TokenKind::number;
    } else if (is_ident_start(c)) {
      while (i < s.size() && is_ident_part(static_cast<unsigned char>(s[i]))) ++i;
      kind = TokenKind::word;
    } else if (c == '$' || c == '?' || ((c == ':' || c == '@') && i + 1 < s.size() && is_ident_start(static_cast<unsigned char>(s[i + 1])))) {
      ++i;
      while (i < s.size() && is_ident_part(static_cast<unsigned char>(s[i]))) ++i;
      kind = TokenKind::parameter;
    } else if (c == '(' || c == ')' || c == ',' || c == ';' || c == '.') {
      ++i;
      kind = TokenKind::punct;
    } else {
      kind = TokenKind::op;
      ++i;
      for (auto op : two_char_ops) {
        if (s.substr(start, 2) == op) {
          i = start + 2;
          break;
        }
      }
    }
    out.push_back(Token{kind, s.substr(start, i - start), start});
  }
  return out;
}

std::string identifier_name(const Token& token) {
  std::string_view t = token.text;
  if (token.kind != TokenKind::quoted_identifier || t.size() < 2) return std::string(t);
  const char close = t.back();
  std::string out;
  for (size_t i = 1; i + 1 < t.size(); ++i) {
    out += t[i];
    if (t[i] == close && close != ']' && i + 2 < t.size() && t[i + 1] == close) ++i;
  }
  return out;
}

std::vector<Token> significant(const std::vector<Token>& tokens) {
  std::vector<Token> out;
  out.reserve(tokens.size());
  for (const auto& t : tokens) {
    if (t.kind != TokenKind::space && t.kind != TokenKind::comment) out.push_back(t);
  }
  return out;
}

}  // namespace cc::sql
