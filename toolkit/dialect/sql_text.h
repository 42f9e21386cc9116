// Small text helpers the drivers share for their catalog queries.
#pragma once

#include <string>
#include <vector>

namespace cc::dialect::detail {

// `pattern` with every "%s" replaced by `literal` (an already quoted literal).
std::string substitute(const char* pattern, const std::string& literal);

// Splits on the unit separator (char 31) that catalog queries use to return lists.
std::vector<std::string> split_unit(const std::string& s);

}  // namespace cc::dialect::detail
