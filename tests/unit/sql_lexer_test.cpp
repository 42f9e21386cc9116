#include <gtest/gtest.h>

#include "core/error.h"
#include "core/sql_lexer.h"

namespace cc::sql {
namespace {

std::string kinds(std::string_view s) {
  std::string out;
  for (const auto& t : significant(tokenize(s))) {
    switch (t.kind) {
      case TokenKind::word: out += 'w'; break;
      case TokenKind::quoted_identifier: out += 'q'; break;
      case TokenKind::string: out += 's'; break;
      case TokenKind::number: out += 'n'; break;
      case TokenKind::punct: out += 'p'; break;
      case TokenKind::op: out += 'o'; break;
      case TokenKind::parameter: out += '$'; break;
      default: out += '?';
    }
  }
  return out;
}

TEST(SqlLexer, TokenTextsConcatenateToInput) {
  const std::string sql = "a <= 'it''s' -- c\n AND \"x\"\"y\" /* b */ >= 1.5e3";
  std::string joined;
  for (const auto& t : tokenize(sql)) joined += t.text;
  EXPECT_EQ(joined, sql);
}

TEST(SqlLexer, ClassifiesTokens) {
  EXPECT_EQ(kinds("xp >= 0"), "won");
  EXPECT_EQ(kinds("\"Order\" IN ('a', 'b')"), "qwpspsp");
  EXPECT_EQ(kinds("`a` = [b c]"), "qoq");
  EXPECT_EQ(kinds("x = $1 OR y = ?"), "wo$wwo$");
  EXPECT_EQ(kinds("a::text || 'x'"), "wowos");
  EXPECT_EQ(kinds("0x1F + .5"), "non");
}

TEST(SqlLexer, UnterminatedRunsAreErrors) {
  EXPECT_THROW(tokenize("'abc"), UsageError);
  EXPECT_THROW(tokenize("\"abc"), UsageError);
  EXPECT_THROW(tokenize("/* abc"), UsageError);
}

TEST(SqlLexer, IdentifierNamesUnquote) {
  auto toks = significant(tokenize("\"a\"\"b\" [c d] `e``f` plain"));
  ASSERT_EQ(toks.size(), 4u);
  EXPECT_EQ(identifier_name(toks[0]), "a\"b");
  EXPECT_EQ(identifier_name(toks[1]), "c d");
  EXPECT_EQ(identifier_name(toks[2]), "e`f");
  EXPECT_EQ(identifier_name(toks[3]), "plain");
}

}  // namespace
}  // namespace cc::sql
