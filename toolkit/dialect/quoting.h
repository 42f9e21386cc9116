// Shared quoting mechanics. Each dialect's quote_ident() is the one place that
// decides how its identifiers are quoted; these helpers only implement the
// doubling rule they share.
#pragma once

#include <string>
#include <string_view>

namespace cc::dialect::detail {

// `open` + text with every `close` doubled + `close`. Throws cc::UsageError on NUL.
std::string wrap_doubling(std::string_view text, char open, char close, std::string_view what);

}  // namespace cc::dialect::detail
