#include "dialect/quoting.h"

#include "core/error.h"

namespace cc::dialect::detail {

std::string wrap_doubling(std::string_view text, char open, char close, std::string_view what) {
  std::string out;
  out.reserve(text.size() + 2);
  out += open;
  for (char c : text) {
    if (c == '\0') throw UsageError(std::string(what) + " contains a NUL character");
    out += c;
    if (c == close) out += c;
  }
  out += close;
  return out;
}

}  // namespace cc::dialect::detail
