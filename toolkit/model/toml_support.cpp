#include "model/toml_support.h"

#include <algorithm>

#include "core/error.h"

namespace cc::model {

void Problems::raise(std::string_view heading) const {
  std::string message(heading);
  const size_t shown = std::min<size_t>(lines_.size(), 50);
  for (size_t i = 0; i < shown; ++i) message += "\n  " + lines_[i];
  if (lines_.size() > shown) message += "\n  ... and " + std::to_string(lines_.size() - shown) + " more";
  throw UsageError(message, problems_);
}

std::string toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date or time";
  }
}

void check_keys(const toml::table& tbl, std::initializer_list<std::string_view> allowed, std::string_view where,
                Problems& problems) {
  for (auto&& [key, value] : tbl) {
    (void)value;
    if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      problems.add(key.source(),
                   "unknown key '" + std::string(key.str()) + "' in " + std::string(where) + " (expected one of: " + list + ")");
    }
  }
}

std::string toml_string(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace cc::model
