#include "app/output.h"

#include <cstdio>
#include <iostream>

#include "app/context.h"
#include "core/text.h"

namespace cc::app {

using json = nlohmann::ordered_json;

Format parse_format(std::string_view value, std::string_view command, bool allow_prometheus) {
  if (value == "text") return Format::text;
  if (value == "json") return Format::json;
  if (value == "github") return Format::github;
  if (value == "junit") return Format::junit;
  if (value == "prometheus" && allow_prometheus) return Format::prometheus;
  throw UsageError("--format '" + std::string(value) + "' is not a format of " + std::string(command) +
                   " (valid: text, json, github, junit" + (allow_prometheus ? ", prometheus" : "") + ")");
}

void print_json(const json& doc) { std::cout << doc.dump(2, ' ', false, json::error_handler_t::replace) << "\n"; }

json with_envelope(Context& ctx, const std::string& command, bool ok, json doc) {
  json out;
  out["format_version"] = json_format_version;
  out["command"] = command;
  out["database"] = nullptr;
  out["dialect"] = nullptr;
  try {
    const auto& t = ctx.target();
    out["database"] = t.display();
    out["dialect"] = t.kind == dialect::Kind::sqlite ? "sqlite" : "postgresql";
  } catch (const UsageError&) {
    // No database given: a command that needs none (generate) still documents it.
  }
  out["ok"] = ok;
  for (auto& [key, value] : doc.items()) out[key] = std::move(value);
  return out;
}

json error_json(const std::string& command, int code, const std::string& message,
                const std::vector<Problem>& problems) {
  json err{{"code", code}, {"message", message}, {"problems", json::array()}};
  for (const auto& p : problems) {
    err["problems"].push_back(json{{"file", p.file}, {"line", p.line}, {"column", p.column}, {"message", p.message}});
  }
  json doc{{"format_version", json_format_version},
           {"command", command.empty() ? json(nullptr) : json(command)},
           {"ok", false}};
  doc["error"] = std::move(err);
  return doc;
}

std::string github_escape_data(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '%')
      out += "%25";
    else if (c == '\r')
      out += "%0D";
    else if (c == '\n')
      out += "%0A";
    else
      out += c;
  }
  return out;
}

std::string github_escape_property(std::string_view s) {
  std::string out;
  for (char c : github_escape_data(s)) {
    if (c == ':')
      out += "%3A";
    else if (c == ',')
      out += "%2C";
    else
      out += c;
  }
  return out;
}

std::string render_github(std::string_view command, const std::vector<Outcome>& outcomes, const std::string& summary) {
  std::string out;
  for (const auto& o : outcomes) {
    if (!o.failed) continue;
    std::string props;
    if (!o.where.file.empty()) {
      props += "file=" + github_escape_property(o.where.file);
      if (o.where.line > 0) props += ",line=" + std::to_string(o.where.line);
      if (o.where.column > 0) props += ",col=" + std::to_string(o.where.column);
      props += ",";
    }
    props += "title=" + github_escape_property("constraintctl " + std::string(command) + ": " + o.name);
    out += "::error " + props + "::" + github_escape_data(text::terminal_safe(o.message)) + "\n";
  }
  out += "::notice title=" + github_escape_property("constraintctl " + std::string(command)) +
         "::" + github_escape_data(summary) + "\n";
  return out;
}

std::string xml_escape(std::string_view s) {
  // XML 1.0 cannot carry most control characters even as references:
  // terminal_safe makes them visible escapes first.
  std::string out;
  for (char c : text::terminal_safe(s)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_junit(std::string_view command, const std::vector<Outcome>& outcomes, double elapsed_ms) {
  size_t failures = 0;
  for (const auto& o : outcomes) failures += o.failed ? 1 : 0;
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.3f", elapsed_ms / 1000.0);
  const std::string suite = xml_escape("constraintctl " + std::string(command));
  const std::string counts = " tests=\"" + std::to_string(outcomes.size()) + "\" failures=\"" +
                             std::to_string(failures) + "\" errors=\"0\" skipped=\"0\" time=\"" + seconds + "\"";
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<testsuites name=\"" + suite + "\"" + counts + ">\n";
  out += "  <testsuite name=\"" + suite + "\"" + counts + ">\n";
  for (const auto& o : outcomes) {
    out += "    <testcase classname=\"" + xml_escape(o.group) + "\" name=\"" + xml_escape(o.name) + "\"";
    if (!o.where.file.empty()) {
      out += " file=\"" + xml_escape(o.where.file) + "\"";
      if (o.where.line > 0) out += " line=\"" + std::to_string(o.where.line) + "\"";
    }
    if (!o.failed) {
      out += "/>\n";
      continue;
    }
    out += ">\n      <failure message=\"" + xml_escape(o.message) + "\" type=\"" + xml_escape(std::string(command)) +
           "\">" + xml_escape(o.detail.empty() ? o.message : o.detail) + "</failure>\n    </testcase>\n";
  }
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

std::string prometheus_label(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

model::SourceLocation find_declaration(const model::Schema& schema, std::string_view constraint) {
  for (const auto& t : schema.tables) {
    for (const auto& c : t.checks) {
      if (c.name == constraint) return c.where;
    }
    for (const auto& u : t.uniques) {
      if (u.name == constraint) return u.where;
    }
  }
  return {};
}

}  // namespace cc::app
