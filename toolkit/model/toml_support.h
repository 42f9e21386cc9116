// Shared helpers for reading constraintctl's TOML files (schema and config):
// positioned problem collection and key/type checks.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "core/error.h"
#include "model/schema.h"

namespace cc::model {

// Collects "file:line:column: message" lines for one or more files.
class Problems {
 public:
  explicit Problems(std::string file) : file_(std::move(file)) {}

  void add(const toml::source_region& at, const std::string& message) { add(location(at), message); }
  void add(const SourceLocation& loc, const std::string& message) {
    lines_.push_back(loc.str() + ": " + message);
    problems_.push_back(Problem{loc.file, loc.line, loc.column, message});
  }
  SourceLocation location(const toml::source_region& at) const {
    return SourceLocation{file_, static_cast<int>(at.begin.line), static_cast<int>(at.begin.column)};
  }
  const std::vector<std::string>& lines() const { return lines_; }
  bool empty() const { return lines_.empty(); }
  void append(const Problems& other) {
    lines_.insert(lines_.end(), other.lines_.begin(), other.lines_.end());
    problems_.insert(problems_.end(), other.problems_.begin(), other.problems_.end());
  }

  // Throws cc::UsageError listing the problems (at most 50) under `heading`.
  [[noreturn]] void raise(std::string_view heading) const;

 private:
  std::string file_;
  std::vector<std::string> lines_;
  std::vector<Problem> problems_;  // the same, structured (for --json errors)
};

// `s` as a TOML basic string, quoted and escaped.
std::string toml_string(std::string_view s);

// "a string", "an integer", ... for messages.
std::string toml_type_name(const toml::node& n);

// Reports every key of `tbl` that is not in `allowed`.
void check_keys(const toml::table& tbl, std::initializer_list<std::string_view> allowed, std::string_view where,
                Problems& problems);

}  // namespace cc::model
