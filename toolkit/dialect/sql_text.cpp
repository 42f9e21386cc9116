#include "dialect/sql_text.h"

namespace cc::dialect::detail {

std::string substitute(const char* pattern, const std::string& literal) {
  std::string out(pattern);
  for (size_t pos = out.find("%s"); pos != std::string::npos; pos = out.find("%s", pos + literal.size())) {
    out.replace(pos, 2, literal);
  }
  return out;
}

std::vector<std::string> split_unit(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '\x1f') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

}  // namespace cc::dialect::detail
