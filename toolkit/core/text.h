// Text for people: display width of UTF-8 (so tables align on `Bücher` or
// CJK names), terminal-safe rendering of database values, aligned tables,
// and "did you mean" suggestions. No locale dependence: the same bytes give
// the same output everywhere.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cc::text {

// Columns `s` takes on a terminal: combining marks and zero-width characters
// count 0, East Asian wide and fullwidth characters 2, everything else 1.
// Invalid UTF-8 bytes count 1 each (terminal_safe shows them as \xNN, which
// callers apply first).
size_t display_width(std::string_view s);

// `s` padded with spaces to `width` columns (never truncated).
std::string pad_right(std::string_view s, size_t width);
std::string pad_left(std::string_view s, size_t width);

// A database value made safe to print: C0 and C1 control characters, DEL and
// invalid UTF-8 become visible escapes (\n, \t, \r, \x1b, \u009b, \xff), and
// a backslash becomes \\ so an escape in the data cannot pass for one of
// these. Valid printable UTF-8 is kept as is.
std::string terminal_safe(std::string_view s);

// Is `s` well-formed UTF-8 (what a JSON string can hold)?
bool valid_utf8(std::string_view s);

// Rows of cells printed in columns aligned by display width, two spaces
// apart; trailing spaces are trimmed. Cells may hold ANSI colour sequences
// only if wrapped with colored() below, which keeps them out of the width.
class Table {
 public:
  enum class Align { left, right };
  explicit Table(std::vector<Align> columns) : align_(std::move(columns)) {}
  void add(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  bool empty() const { return rows_.empty(); }
  std::string render() const;

 private:
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

// `s` between an ANSI colour sequence and the reset, or `s` when `color` is
// empty. The sequences do not count towards display_width.
std::string colored(std::string_view s, std::string_view color);

// Equal but for the case of ASCII letters (how SQLite compares identifiers).
bool ascii_iequal(std::string_view a, std::string_view b);

// `s` with ASCII letters in lower case; other bytes (UTF-8 included) kept.
std::string ascii_lower(std::string_view s);

// The parts with `sep` between them ("" for none).
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// Does `text` hold `word` as a whole word of SQL text, not inside an
// identifier (letters, digits, '_' and '$' around it)? Case-sensitive: pass
// both in lower case to match any case.
bool names_word(std::string_view text, std::string_view word);

// Levenshtein distance (bytes), for suggestions.
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, when close enough to be a likely typo
// (at most 2 edits, and fewer than half the word's length), else nullopt.
std::optional<std::string> closest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace cc::text
