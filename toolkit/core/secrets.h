// Passwords must never reach any output. Whoever learns a secret (the
// connection-string parser) registers it here; everything printed by main()
// goes through scrub(), error paths included.
#pragma once

#include <string>
#include <string_view>

namespace cc::secrets {

// Remembers `secret` (ignored when empty) for the rest of the process.
void add(std::string_view secret);

// `text` with every registered secret, and its percent-encoded form, replaced by "***".
std::string scrub(std::string_view text);

}  // namespace cc::secrets
