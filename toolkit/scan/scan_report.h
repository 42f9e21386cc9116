// Presenting a scan: the text report for people and the stable JSON document
// for scripts (keys documented in docs/json.md).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "scan/scanner.h"

namespace cc::scan {

struct TextOptions {
  bool samples = false;        // list sample rows under the table
  bool only_violated = false;  // --quiet: the violated constraints and the summary line
  bool color = false;          // ANSI colour (a terminal, and NO_COLOR unset)
  bool sources = false;        // a DECLARED AT column: the file:line of each constraint
};

std::string render_text(const ScanReport& report, const TextOptions& options);
nlohmann::ordered_json to_json(const ScanReport& report);
// A database value in JSON, keeping its type (NULL, number, boolean, text).
nlohmann::ordered_json json_value(const dialect::Value& v);

}  // namespace cc::scan
