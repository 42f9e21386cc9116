#include "core/secrets.h"

#include <algorithm>
#include <mutex>
#include <vector>

namespace cc::secrets {
namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::vector<std::string>& registry() {
  static std::vector<std::string> r;
  return r;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Length of the text at `pos` that spells `secret`, or 0. Each byte of the
// secret may appear as itself, percent-encoded in either case (%5f, %5F: URLs
// need not be canonical), or backslash-escaped (libpq's quoted values, JSON).
// Matching the decoded form covers every encoding without listing them all.
size_t match_at(std::string_view text, size_t pos, std::string_view secret) {
  size_t t = pos;
  for (char c : secret) {
    if (t < text.size() && text[t] == c) {
      ++t;
    } else if (t + 2 < text.size() && text[t] == '%' && hex_value(text[t + 1]) >= 0 && hex_value(text[t + 2]) >= 0 &&
               static_cast<char>(hex_value(text[t + 1]) * 16 + hex_value(text[t + 2])) == c) {
      t += 3;
    } else if (t + 1 < text.size() && text[t] == '\\' && text[t + 1] == c) {
      t += 2;
    } else {
      return 0;
    }
  }
  return t - pos;
}

}  // namespace

void add(std::string_view secret) {
  if (secret.empty()) return;
  std::lock_guard lock(registry_mutex());
  for (const auto& s : registry()) {
    if (s == secret) return;
  }
  registry().emplace_back(secret);
}

std::string scrub(std::string_view text) {
  std::lock_guard lock(registry_mutex());
  if (registry().empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t longest = 0;
    for (const auto& s : registry()) longest = std::max(longest, match_at(text, i, s));
    if (longest > 0) {
      out += "***";
      i += longest;
    } else {
      out += text[i++];
    }
  }
  return out;
}

}  // namespace cc::secrets
