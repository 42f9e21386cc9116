#include "dialect/connection_target.h"

#include <libpq-fe.h>

#include <memory>

#include "core/error.h"
#include "core/secrets.h"

namespace cc::dialect {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Finds the password libpq would use from this conninfo, so it can be scrubbed
// from every message. Falls back to the URI's user:password@ part when libpq
// cannot parse the string (the error path must not leak it either).
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
  auto scheme = conninfo.find("://");
  if (scheme != std::string::npos) {
    auto at = conninfo.find('@', scheme + 3);
    auto colon = conninfo.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      secrets::add(conninfo.substr(colon + 1, at - colon - 1));
    }
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

}  // namespace cc::dialect
