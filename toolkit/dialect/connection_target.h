// Where to connect, parsed from --db / CONSTRAINTCTL_DB / constraintctl.toml
// without connecting. Parsing registers any password with cc::secrets so it
// can never be printed.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "dialect/dialect.h"

namespace cc::dialect {

struct ConnectionTarget {
  Kind kind = Kind::sqlite;
  std::string sqlite_path;  // sqlite: the file
  std::string conninfo;     // postgresql: what libpq gets (URI or key=value)

  // For messages: the URL with any password replaced by ***.
  std::string display() const;
  // A relative SQLite path is taken relative to `dir` (the project, for the
  // config file's URL); other targets are left as they are.
  void resolve_relative_to(const std::filesystem::path& dir);
};

// Accepts sqlite:PATH, sqlite://PATH, sqlite:///ABS, postgresql://..., postgres://...,
// and "postgresql:" followed by a libpq key=value string. Throws cc::UsageError.
ConnectionTarget parse_connection_target(std::string_view url);

}  // namespace cc::dialect
