// A small SQL tokenizer covering the lexical rules PostgreSQL and SQLite share
// (plus SQLite's `ident` and [ident] quoting). Used to vet user expressions
// before the database sees them, to find the columns an expression uses, and
// to read constraint clauses out of SQLite's stored CREATE TABLE text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cc::sql {

enum class TokenKind {
  word,               // bare identifier or keyword: xp, AND, NOT
  quoted_identifier,  // "x""y", `x`, [x]
  string,             // 'it''s'
  number,             // 42, 1.5e3, 0x1F
  punct,              // ( ) , . ;
  op,                 // = <= <> || :: + ...
  parameter,          // $1, ?, :name, @name (never allowed in user expressions)
  comment,            // -- ... or /* ... */
  space,
};

struct Token {
  TokenKind kind;
  std::string_view text;
  size_t offset;

  bool is_word(std::string_view upper) const;  // case-insensitive keyword test
  bool is(std::string_view punct_or_op) const { return (kind == TokenKind::punct || kind == TokenKind::op) && text == punct_or_op; }
};

// Splits `sql` into tokens, spaces and comments included, so that the
// concatenation of all token texts is `sql`. Throws cc::UsageError naming the
// offset for an unterminated string, quoted identifier or block comment.
std::vector<Token> tokenize(std::string_view sql);

// The name a word or quoted identifier token denotes: quotes removed and
// doubled quotes collapsed. A bare word is returned as written.
std::string identifier_name(const Token& token);

// Tokens without spaces and comments.
std::vector<Token> significant(const std::vector<Token>& tokens);

}  // namespace cc::sql
