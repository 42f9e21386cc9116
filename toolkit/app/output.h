// Output formats shared by the reporting commands: the --format choice, the
// JSON envelope every document carries (docs/json.md), GitHub workflow
// annotations, JUnit XML and the Prometheus text format.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "model/schema.h"

namespace cc::app {

class Context;

enum class Format { text, json, github, junit, prometheus };

// Parses a --format value; throws cc::UsageError listing the valid ones for
// `command` (prometheus only where `allow_prometheus`).
Format parse_format(std::string_view value, std::string_view command, bool allow_prometheus);

// The version of the JSON documents' shape; bumped only for an incompatible change.
inline constexpr int json_format_version = 1;

// `doc` behind the envelope keys (format_version, command, database, dialect,
// ok), which come first. Keys `doc` already has keep `doc`'s value, so
// existing documents do not change. `database` and `dialect` are null when no
// database was given (generate needs none).
nlohmann::ordered_json with_envelope(Context& ctx, const std::string& command, bool ok, nlohmann::ordered_json doc);

// `doc` on stdout, indented, and a newline. A string that is not UTF-8
// (database text holds any bytes) has its invalid bytes written as U+FFFD
// instead of failing the command; values are escaped before (scan::json_value).
void print_json(const nlohmann::ordered_json& doc);

// The JSON error document of docs/json.md: code, message and positioned problems.
nlohmann::ordered_json error_json(const std::string& command, int code, const std::string& message,
                                  const std::vector<Problem>& problems);

// One result of a check, as the CI formats report it: a JUnit test case, and
// a GitHub annotation when it failed.
struct Outcome {
  std::string group;  // JUnit classname: the table, or "migrations"
  std::string name;   // the constraint, or the migration
  bool failed = false;
  std::string message;          // one line
  std::string detail;           // longer text (JUnit failure body); optional
  model::SourceLocation where;  // file empty: no location known
};

// `::error file=F,line=L,col=C,title=T::message` per failed outcome
// (GitHub's workflow-command syntax, with its %-escapes), then one
// `::notice::` summary line.
std::string render_github(std::string_view command, const std::vector<Outcome>& outcomes, const std::string& summary);

// A JUnit XML document: one testsuite named after the command, one testcase
// per outcome, <failure> for the failed ones.
std::string render_junit(std::string_view command, const std::vector<Outcome>& outcomes, double elapsed_ms);

// Escapes for the formats above, exposed for tests.
std::string github_escape_data(std::string_view s);
std::string github_escape_property(std::string_view s);
std::string xml_escape(std::string_view s);
std::string prometheus_label(std::string_view s);

// The location of a declared constraint, for findings that only carry its name.
model::SourceLocation find_declaration(const model::Schema& schema, std::string_view constraint);

}  // namespace cc::app
