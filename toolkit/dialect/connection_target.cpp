#include "dialect/connection_target.h"

#include <libpq-fe.h>

#include <cctype>
#include <cstdlib>
#include <memory>
#include <optional>

#include "core/error.h"
#include "core/secrets.h"

namespace cc::dialect {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Percent-decodes `s`; nullopt when a %XX is malformed (libpq refuses those).
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      return std::nullopt;
    }
    out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
    i += 2;
  }
  return out;
}

// Registers a password as written and as decoded: messages may quote either.
void add_encoded(std::string_view raw) {
  secrets::add(raw);
  if (auto decoded = percent_decode(raw)) secrets::add(*decoded);
}

// Every password= value of a libpq key=value string, unquoted and unescaped
// the way libpq reads it. libpq keeps only the last of repeated keywords;
// earlier ones would still be printed by anything that shows the string.
void register_keyword_passwords(std::string_view s) {
  size_t i = 0;
  auto skip_space = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  while (i < s.size()) {
    skip_space();
    const size_t key_begin = i;
    while (i < s.size() && s[i] != '=' && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    const std::string_view key = s.substr(key_begin, i - key_begin);
    skip_space();
    if (i >= s.size() || s[i] != '=') return;  // malformed: libpq reports it (scrubbed)
    ++i;
    skip_space();
    std::string value, raw;
    const size_t value_begin = i;
    if (i < s.size() && s[i] == '\'') {
      for (++i; i < s.size() && s[i] != '\''; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value += s[i];
      }
      raw = std::string(s.substr(value_begin + 1, i - value_begin - 1));
      ++i;
    } else {
      for (; i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value += s[i];
      }
      raw = std::string(s.substr(value_begin, i - value_begin));
    }
    if (key == "password") {
      secrets::add(value);
      secrets::add(raw);
    }
  }
}

// The URI form: the user:password@ part and every password= parameter. libpq
// ends the user info at the first '@'; a password holding an unencoded '@'
// therefore makes libpq read part of the password as host and port (and print
// them). Such a URL is refused, naming none of it.
void register_uri_passwords(std::string_view uri) {
  const size_t authority = uri.find("://") + 3;
  const size_t query = uri.find('?', authority);
  const std::string_view before_query =
      uri.substr(authority, query == std::string_view::npos ? std::string_view::npos : query - authority);
  const size_t first_at = before_query.find_first_of("@/");
  if (first_at != std::string_view::npos && before_query[first_at] == '@') {
    const std::string_view userinfo = before_query.substr(0, first_at);
    if (const size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      add_encoded(userinfo.substr(colon + 1));
      const size_t last_at = before_query.rfind('@');
      if (last_at != first_at) {
        add_encoded(before_query.substr(colon + 1, last_at - colon - 1));
        throw UsageError("invalid PostgreSQL URL: the password holds an unencoded '@' (write it as %40)");
      }
    }
  }
  if (query == std::string_view::npos) return;
  std::string_view params = uri.substr(query + 1);
  while (!params.empty()) {
    const size_t amp = params.find('&');
    const std::string_view param = params.substr(0, amp);
    if (param.substr(0, 9) == "password=") add_encoded(param.substr(9));
    params = amp == std::string_view::npos ? std::string_view() : params.substr(amp + 1);
  }
}

// Finds every password in this conninfo, so it can be scrubbed from every
// message: libpq's own reading first (what it will send), then the raw text
// forms, which libpq's error messages and display() quote.
void register_password(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts) {
    for (PQconninfoOption* o = opts; o->keyword; ++o) {
      if (std::string_view(o->keyword) == "password" && o->val) secrets::add(o->val);
    }
    PQconninfoFree(opts);
  }
  if (err) PQfreemem(err);
  if (const char* env = std::getenv("PGPASSWORD")) secrets::add(env);
  if (starts_with(conninfo, "postgresql://") || starts_with(conninfo, "postgres://")) {
    register_uri_passwords(conninfo);
  } else {
    register_keyword_passwords(conninfo);
  }
}

}  // namespace

std::string ConnectionTarget::display() const {
  if (kind == Kind::sqlite) return "sqlite:" + sqlite_path;
  return secrets::scrub(conninfo);
}

ConnectionTarget parse_connection_target(std::string_view url) {
  ConnectionTarget t;
  if (starts_with(url, "sqlite:")) {
    std::string_view path = url.substr(7);
    if (starts_with(path, "//")) path.remove_prefix(2);
    if (path.empty()) throw UsageError("database URL 'sqlite:' names no file (use sqlite:PATH)");
    t.kind = Kind::sqlite;
    t.sqlite_path = std::string(path);
    return t;
  }
  if (starts_with(url, "postgresql://") || starts_with(url, "postgres://")) {
    t.kind = Kind::postgresql;
    t.conninfo = std::string(url);
  } else if (starts_with(url, "postgresql:") || starts_with(url, "postgres:")) {
    t.kind = Kind::postgresql;
    t.conninfo = std::string(url.substr(url.find(':') + 1));  // key=value form, or empty for PG* variables
  } else if (url.find(':') == std::string_view::npos) {
    // A bare path is the most common slip; say what it probably meant.
    throw UsageError("database URL '" + std::string(url) + "' has no scheme; did you mean sqlite:" + std::string(url) + "?");
  } else {
    std::string shown = std::string(url.substr(0, url.find(':')));
    throw UsageError("unsupported database URL '" + shown +
                     ":...' (expected sqlite:PATH or postgresql://user@host:port/dbname)");
  }
  register_password(t.conninfo);
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(t.conninfo.c_str(), &err);
  if (!opts) {
    std::string why = err ? secrets::scrub(err) : "unparseable";
    if (err) PQfreemem(err);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    throw UsageError("invalid PostgreSQL connection string: " + why);
  }
  PQconninfoFree(opts);
  return t;
}

void ConnectionTarget::resolve_relative_to(const std::filesystem::path& dir) {
  if (kind == Kind::sqlite && !sqlite_path.empty() && sqlite_path[0] != '/') {
    sqlite_path = (dir / sqlite_path).lexically_normal().string();
  }
}

}  // namespace cc::dialect
