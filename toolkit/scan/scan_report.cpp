#include "scan/scan_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/text.h"

namespace cc::scan {
namespace {

// Values come from the database: escaped, so a value holding ESC or a
// newline cannot move the cursor or forge a line of the report.
std::string show_value(const dialect::Value& v) {
  if (auto s = std::get_if<std::string>(&v)) return "'" + text::terminal_safe(*s) + "'";
  return text::terminal_safe(dialect::value_text(v));
}

// Padding by display width, not bytes: `Bücher` and CJK names line up.
std::string pad(const std::string& s, size_t width) { return text::pad_right(s, width); }
std::string pad_left(const std::string& s, size_t width) { return text::pad_left(s, width); }

std::string pairs(const std::vector<std::pair<std::string, dialect::Value>>& kv) {
  std::string out;
  for (const auto& [k, v] : kv) out += (out.empty() ? "" : " ") + k + "=" + show_value(v);
  return out;
}

}  // namespace

nlohmann::ordered_json json_value(const dialect::Value& v) {
  if (std::holds_alternative<std::monostate>(v)) return nullptr;
  if (auto i = std::get_if<std::int64_t>(&v)) return *i;
  if (auto b = std::get_if<bool>(&v)) return *b;
  // JSON has no NaN or Infinity: those stay text, as the database prints them.
  if (auto d = std::get_if<double>(&v))
    return std::isfinite(*d) ? nlohmann::ordered_json(*d) : nlohmann::ordered_json(dialect::value_text(v));
  // A text that is not UTF-8 (SQLite stores any bytes; so does a SQL_ASCII
  // PostgreSQL database) cannot be a JSON string: it is written as the text
  // output writes it, each invalid byte as \xNN and a backslash as \\.
  const auto& s = std::get<std::string>(v);
  return text::valid_utf8(s) ? s : text::terminal_safe(s);
}

std::string render_text(const ScanReport& report, const TextOptions& options) {
  std::string out;
  const auto violated = report.violated_constraints();
  if (!options.only_violated) {
    char seconds[32];  // a number: always fits
    std::snprintf(seconds, sizeof seconds, "%.2f", report.elapsed_ms / 1000.0);
    out += "scan of " + text::terminal_safe(report.database) + ": " + std::to_string(report.tables) + " tables, " +
           std::to_string(report.constraints.size()) + " constraints, " + seconds + " s\n\n";
  }
  size_t wt = 5, wn = 10, wp = 6;
  for (const auto& c : report.constraints) {
    wt = std::max(wt, text::display_width(c.table));
    wn = std::max(wn, text::display_width(c.name));
    wp = std::max(wp, model::to_string(c.policy).size());
  }
  if (!options.only_violated || violated > 0) {
    out += pad("TABLE", wt) + "  " + pad("CONSTRAINT", wn) + "  KIND    VIOLATIONS  IN DB  " +
           (options.sources ? pad("REPAIR", wp) + "  DECLARED AT" : std::string("REPAIR")) + "\n";
  }
  for (const auto& c : report.constraints) {
    if (options.only_violated && c.violations == 0) continue;
    const std::string count = pad_left(std::to_string(c.violations), 10);
    const std::string shown = !options.color ? count : (c.violations > 0 ? "\033[31m" : "\033[32m") + count + "\033[0m";
    out +=
        pad(c.table, wt) + "  " + pad(c.name, wn) + "  " + pad(c.kind, 6) + "  " + shown + "  " +
        pad(c.present ? "yes" : "no", 5) + "  " +
        (options.sources ? pad(std::string(model::to_string(c.policy)), wp) + "  " + text::terminal_safe(c.where.str())
                         : std::string(model::to_string(c.policy))) +
        "\n";
  }
  if (options.samples) {
    bool header = false;
    for (const auto& c : report.constraints) {
      if (c.samples.empty()) continue;
      if (!header) out += "\nsample rows:\n";
      header = true;
      out += "  " + c.name + " (" + c.definition + "; " + c.where.str() + ")\n";
      for (const auto& s : c.samples) {
        if (c.kind == "unique") {
          out += "    " + pairs(s.values) + "  rows=" + std::to_string(s.rows) + " ids=" + text::terminal_safe(s.ids) + "\n";
        } else {
          out += "    " + pairs(s.key) + "  " + pairs(s.values) + "\n";
        }
      }
    }
  }
  bool refusals = false;
  for (const auto& c : report.constraints) {
    if (c.repair_refused.empty()) continue;
    if (!refusals) out += "\nwarning: repairs that cannot work on these tables (scan --fix refuses them):\n";
    refusals = true;
    out += "  " + c.name + " (" + std::string(model::to_string(c.policy)) + ", " + c.where.str() +
           "): " + text::terminal_safe(c.repair_refused) + "\n";
  }
  if (!report.dangling.empty()) {
    out +=
        "\nwarning: rows whose foreign key points at no row (there before this scan; not a declared constraint, "
        "and a SQLite rebuild of these tables does not fail on them):\n";
    for (const auto& d : report.dangling) {
      out += "  " + text::terminal_safe(d.table) + " -> " + text::terminal_safe(d.parent) + ": " +
             std::to_string(d.rows) + " row(s)\n";
    }
  }
  if (!options.only_violated || violated > 0) out += "\n";
  const char* on = options.color ? (violated == 0 ? "\033[1;32m" : "\033[1;31m") : "";
  const char* off = options.color ? "\033[0m" : "";
  if (violated == 0) {
    out += std::string(on) + "ok: no violations" + off + "\n";
  } else {
    out += std::string(on) + std::to_string(violated) + " of " + std::to_string(report.constraints.size()) +
           " constraints violated by " + std::to_string(report.total_violations()) + " rows" + off + "\n";
  }
  return out;
}

nlohmann::ordered_json to_json(const ScanReport& report) {
  nlohmann::ordered_json doc;
  doc["command"] = "scan";
  doc["database"] = report.database;
  doc["dialect"] = report.dialect;
  auto& list = doc["constraints"] = nlohmann::ordered_json::array();
  for (const auto& c : report.constraints) {
    nlohmann::ordered_json j;
    j["table"] = c.table;
    j["name"] = c.name;
    j["kind"] = c.kind;
    j["violations"] = c.violations;
    if (c.kind == "unique") j["groups"] = c.groups;
    j["present"] = c.present;
    j["definition"] = c.definition;
    j["repair"] = std::string(model::to_string(c.policy));
    j["source"] = c.where.str();
    if (!c.repair_refused.empty()) j["repair_refused"] = c.repair_refused;
    auto& samples = j["samples"] = nlohmann::ordered_json::array();
    for (const auto& s : c.samples) {
      nlohmann::ordered_json js;
      if (!s.key.empty()) {
        for (const auto& [k, v] : s.key) js["key"][k] = json_value(v);
      }
      js["values"] = nlohmann::ordered_json::object();
      for (const auto& [k, v] : s.values) js["values"][k] = json_value(v);
      if (c.kind == "unique") {
        js["rows"] = s.rows;
        js["ids"] = s.ids;
      }
      samples.push_back(std::move(js));
    }
    list.push_back(std::move(j));
  }
  doc["summary"] = {{"tables", report.tables},
                    {"constraints", report.constraints.size()},
                    {"violated", report.violated_constraints()},
                    {"violations", report.total_violations()}};
  doc["elapsed_ms"] = static_cast<std::int64_t>(report.elapsed_ms);
  if (report.checked_foreign_keys) {
    auto& dangling = doc["dangling_foreign_keys"] = nlohmann::ordered_json::array();
    for (const auto& d : report.dangling)
      dangling.push_back({{"table", d.table}, {"parent", d.parent}, {"rows", d.rows}});
  }
  return doc;
}

}  // namespace cc::scan
