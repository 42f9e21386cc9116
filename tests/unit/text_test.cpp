#include "core/text.h"

#include <gtest/gtest.h>

namespace cc::text {
namespace {

TEST(Text, DisplayWidthCountsColumnsNotBytes) {
  EXPECT_EQ(display_width("books"), 5u);
  EXPECT_EQ(display_width("Bücher"), 6u);        // ü is two bytes, one column
  EXPECT_EQ(display_width("Bu\u0308cher"), 6u);  // u + combining diaeresis
  EXPECT_EQ(display_width("本棚"), 4u);          // wide
  EXPECT_EQ(display_width("\033[31mred\033[0m"), 3u);
  EXPECT_EQ(pad_right("Bücher", 8), "Bücher  ");
  EXPECT_EQ(pad_left("本", 3), " 本");
  EXPECT_EQ(pad_right("toolong", 3), "toolong");  // never truncated
}

TEST(Text, TerminalSafeEscapesControlsAndInvalidUtf8) {
  EXPECT_EQ(terminal_safe("plain Bücher 本"), "plain Bücher 本");
  EXPECT_EQ(terminal_safe("a\033[2Jb"), "a\\x1b[2Jb");
  EXPECT_EQ(terminal_safe("l1\nl2\tx\r"), "l1\\nl2\\tx\\r");
  EXPECT_EQ(terminal_safe("\x7f"), "\\x7f");
  EXPECT_EQ(terminal_safe("\xc2\x9b"), "\\u009b");  // C1 CSI
  EXPECT_EQ(terminal_safe("\xff"), "\\xff");
  EXPECT_EQ(terminal_safe("back\\slash"), "back\\\\slash");
  EXPECT_EQ(terminal_safe("\u202e"), "\\u202e");  // right-to-left override
}

TEST(Text, ValidUtf8RefusesWhatJsonCannotHold) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain Bücher 本 \U0001F600"));
  EXPECT_FALSE(valid_utf8("\xff"));
  EXPECT_FALSE(valid_utf8("\xc3("));         // a lead byte without its continuation
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(valid_utf8("ok\xe6\x9c"));    // truncated at the end
}

TEST(Text, TableAlignsByDisplayWidth) {
  Table t({Table::Align::left, Table::Align::right});
  t.add({"Bücher", "1"});
  t.add({"books", "10"});
  EXPECT_EQ(t.render(), "Bücher   1\nbooks   10\n");
}

TEST(Text, SuggestionsForTypos) {
  EXPECT_EQ(edit_distance("scna", "scan"), 1u);  // a swap is one edit
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(closest("scna", {"scan", "status", "apply"}), "scan");
  EXPECT_EQ(closest("stauts", {"scan", "status", "apply"}), "status");
  EXPECT_EQ(closest("--jsno", {"--json", "--db"}), "--json");
  EXPECT_EQ(closest("frobnicate", {"scan", "status"}), std::nullopt);
  EXPECT_EQ(closest("scan", {"scan"}), std::nullopt);  // not a typo
}

}  // namespace
}  // namespace cc::text
