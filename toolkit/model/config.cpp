#include "model/config.h"

#include "core/error.h"
#include "model/toml_support.h"

namespace cc::model {
namespace {

void read_int(const toml::table& tbl, std::string_view key, int min, int& out, Problems& problems) {
  const toml::node* n = tbl.get(key);
  if (!n) return;
  auto v = n->value<std::int64_t>();
  if (!n->is_integer() || !v || *v < min || *v > 86'400'000) {
    problems.add(n->source(),
                 "'" + std::string(key) + "' must be an integer from " + std::to_string(min) + " to 86400000");
    return;
  }
  out = static_cast<int>(*v);
}

void read_bool(const toml::table& tbl, std::string_view key, bool& out, Problems& problems) {
  const toml::node* n = tbl.get(key);
  if (!n) return;
  if (!n->is_boolean()) {
    problems.add(n->source(), "'" + std::string(key) + "' must be true or false");
    return;
  }
  out = n->as_boolean()->get();
}

void read_path(const toml::table& tbl, std::string_view key, const std::filesystem::path& base,
               std::filesystem::path& out, Problems& problems) {
  const toml::node* n = tbl.get(key);
  if (!n) return;
  if (!n->is_string() || n->as_string()->get().empty()) {
    problems.add(n->source(), "'" + std::string(key) + "' must be a non-empty string");
    return;
  }
  out = base / n->as_string()->get();
}

}  // namespace

Config load_config(const std::filesystem::path& project_dir) {
  Config cfg;
  cfg.project_dir = project_dir;
  cfg.schema_dir = project_dir / "schema";
  cfg.migrations_dir = project_dir / "migrations";
  const auto file = project_dir / "constraintctl.toml";
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (status.type() == std::filesystem::file_type::not_found) return cfg;
  // Opening a FIFO or a device would block or read forever: only a regular
  // file is read (a symlink loop lands here too, with ec set).
  if (ec || !std::filesystem::is_regular_file(status)) {
    throw UsageError("configuration '" + file.lexically_normal().string() + "' is not a regular file" +
                     (ec ? " (" + ec.message() + ")" : "") + "; nothing was read");
  }

  const std::string name = file.lexically_normal().string();
  Problems problems(name);
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    problems.add(e.source(), std::string(e.description()));
    problems.raise("invalid configuration:");
  }
  check_keys(root, {"database", "schema_dir", "migrations_dir", "lock_wait_ms", "sqlite", "postgresql"},
             "constraintctl.toml", problems);
  if (const toml::node* n = root.get("database")) {
    if (n->is_string()) {
      cfg.database = n->as_string()->get();
    } else {
      problems.add(n->source(), "'database' must be a URL string");
    }
  }
  read_int(root, "lock_wait_ms", 0, cfg.lock_wait_ms, problems);
  read_path(root, "schema_dir", project_dir, cfg.schema_dir, problems);
  read_path(root, "migrations_dir", project_dir, cfg.migrations_dir, problems);
  if (const toml::table* t = root.get_as<toml::table>("sqlite")) {
    check_keys(*t, {"busy_timeout_ms", "no_rebuild", "max_lock_ms"}, "[sqlite]", problems);
    read_int(*t, "max_lock_ms", 0, cfg.sqlite_max_lock_ms, problems);
    read_int(*t, "busy_timeout_ms", 0, cfg.sqlite_busy_timeout_ms, problems);
    read_bool(*t, "no_rebuild", cfg.sqlite_no_rebuild, problems);
  }
  if (const toml::table* t = root.get_as<toml::table>("postgresql")) {
    check_keys(*t, {"statement_timeout_ms", "lock_timeout_ms"}, "[postgresql]", problems);
    read_int(*t, "statement_timeout_ms", 0, cfg.postgres_statement_timeout_ms, problems);
    read_int(*t, "lock_timeout_ms", 1, cfg.postgres_lock_timeout_ms, problems);
  }
  if (!problems.empty()) problems.raise("invalid configuration:");
  return cfg;
}

}  // namespace cc::model
