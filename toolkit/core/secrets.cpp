#include "core/secrets.h"

#include <cctype>
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

std::string percent_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

void replace_all(std::string& text, const std::string& needle) {
  if (needle.empty()) return;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 3)) {
    text.replace(pos, needle.size(), "***");
  }
}

}  // namespace

void add(std::string_view secret) {
  if (secret.empty()) return;
  std::lock_guard lock(registry_mutex());
  registry().emplace_back(secret);
  std::string encoded = percent_encode(secret);
  if (encoded != secret) registry().push_back(std::move(encoded));
}

std::string scrub(std::string_view text) {
  std::string out(text);
  std::lock_guard lock(registry_mutex());
  for (const auto& s : registry()) replace_all(out, s);
  return out;
}

}  // namespace cc::secrets
