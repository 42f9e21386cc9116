#include <gtest/gtest.h>

#include "model/expression.h"

namespace cc::model {
namespace {

TEST(VetExpression, AcceptsOrdinaryConditions) {
  EXPECT_EQ(vet_expression("temporary_willpower <= willpower"), "");
  EXPECT_EQ(vet_expression("status IN ('Un', 'it''s') AND (xp >= 0 OR xp IS NULL)"), "");
  EXPECT_EQ(vet_expression("length(name) BETWEEN 1 AND 64"), "");
  EXPECT_EQ(vet_expression("\"Order\" > 0"), "");
  EXPECT_EQ(vet_expression("x'00' IS NOT NULL"), "");
}

struct Hostile {
  const char* expr;
  const char* reason_contains;
};

class VetHostile : public ::testing::TestWithParam<Hostile> {};

TEST_P(VetHostile, IsRejectedWithAReason) {
  const auto why = vet_expression(GetParam().expr);
  EXPECT_NE(why.find(GetParam().reason_contains), std::string::npos) << GetParam().expr << " -> " << why;
}

INSTANTIATE_TEST_SUITE_P(
    Injection, VetHostile,
    ::testing::Values(Hostile{"x > 0); DROP TABLE canary; --", "unbalanced"},
                      Hostile{"x > 0; DROP TABLE canary", "';'"},
                      Hostile{"1=1) OR (1=1", "unbalanced"},
                      Hostile{"((x > 0)", "unclosed"},
                      Hostile{"x > 0 -- trailing", "comment"},
                      Hostile{"x > /* c */ 0", "comment"},
                      Hostile{"x IN (SELECT id FROM canary)", "subquery"},
                      Hostile{"x = $1", "parameter"},
                      Hostile{"x = $$a$$", "parameter"},
                      Hostile{"name = E'\\' ; DROP TABLE canary; --'", "backslash"},
                      Hostile{"name = 'a\\'", "backslash"},
                      Hostile{"`x` > 0", "double quotes"},
                      Hostile{"'unterminated", "unterminated"},
                      Hostile{"   ", "empty"}));

TEST(VetExpression, RejectsNul) { EXPECT_NE(vet_expression(std::string("x > 0\0; DROP", 12)), ""); }

TEST(ExpressionIdentifiers, SkipsKeywordsFunctionsAndCasts) {
  EXPECT_EQ(expression_identifiers("temporary_willpower <= willpower"),
            (std::vector<std::string>{"temporary_willpower", "willpower"}));
  EXPECT_EQ(expression_identifiers("length(name) > 0 AND \"Mixed\" IS NOT NULL AND a::text <> 'x'"),
            (std::vector<std::string>{"name", "Mixed", "a"}));
}

TEST(VetIdentifier, Limits) {
  EXPECT_EQ(vet_identifier("a\"b; DROP TABLE x; --"), "");
  EXPECT_EQ(vet_identifier("ünïcödé"), "");
  EXPECT_EQ(vet_identifier(std::string(63, 'a')), "");
  EXPECT_NE(vet_identifier(std::string(64, 'a')), "");
  EXPECT_NE(vet_identifier(""), "");
  EXPECT_NE(vet_identifier("tab\there"), "");
}

}  // namespace
}  // namespace cc::model
