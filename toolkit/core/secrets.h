// Passwords must never reach any output. Whoever learns a secret (the
// connection-string parser) registers it here; everything printed by main()
// goes through scrub(), error paths included.
#pragma once

#include <string>
#include <string_view>

namespace cc::secrets {

// Remembers `secret` (ignored when empty) for the rest of the process.
void add(std::string_view secret);

// `text` with every registered secret replaced by "***", in whatever form it
// appears: as is, percent-encoded (any case, any subset of bytes) or
// backslash-escaped.
std::string scrub(std::string_view text);

}  // namespace cc::secrets
