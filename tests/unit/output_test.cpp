#include "app/output.h"

#include <gtest/gtest.h>

namespace cc::app {
namespace {

TEST(Output, GithubEscapesFollowTheWorkflowCommandRules) {
  EXPECT_EQ(github_escape_data("50% a\r\nb"), "50%25 a%0D%0Ab");
  EXPECT_EQ(github_escape_property("a:b,c%"), "a%3Ab%2Cc%25");
  const std::string out =
      render_github("scan",
                    {Outcome{"t", "c", true, "2 rows\nviolate", "", model::SourceLocation{"schema/t,x.toml", 4, 1}},
                     Outcome{"t", "ok", false, "fine", "", {}}},
                    "1 of 2");
  EXPECT_EQ(out,
            "::error file=schema/t%2Cx.toml,line=4,col=1,title=constraintctl scan%3A c::2 rows\\nviolate\n"
            "::notice title=constraintctl scan::1 of 2\n");
}

TEST(Output, XmlAndPrometheusEscapes) {
  EXPECT_EQ(xml_escape("<a & 'b' \"c\">"), "&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;");
  EXPECT_EQ(xml_escape("x\033y"), "x\\x1by");  // not representable in XML 1.0
  EXPECT_EQ(prometheus_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(Output, ErrorDocument) {
  const auto doc = error_json("scan", 2, "bad", {Problem{"schema/t.toml", 4, 8, "unbalanced"}});
  EXPECT_EQ(doc.dump(),
            R"({"format_version":1,"command":"scan","ok":false,"error":{"code":2,"message":"bad","problems":)"
            R"([{"file":"schema/t.toml","line":4,"column":8,"message":"unbalanced"}]}})");
}

TEST(Output, ParseFormatListsTheValidOnes) {
  EXPECT_EQ(parse_format("junit", "scan", false), Format::junit);
  EXPECT_EQ(parse_format("prometheus", "health", true), Format::prometheus);
  try {
    parse_format("prometheus", "scan", false);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "--format 'prometheus' is not a format of scan (valid: text, json, github, junit)");
  }
}

}  // namespace
}  // namespace cc::app
