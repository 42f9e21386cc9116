#include "app/context.h"

#include <unistd.h>

#include <cstdlib>

#include "core/error.h"
#include "model/schema_loader.h"

namespace cc::app {

Context::Context(GlobalOptions options) : options_(std::move(options)), config_(model::load_config(options_.project)) {
  if (!options_.schema_dir.empty()) config_.schema_dir = options_.schema_dir;
  if (options_.lock_wait_ms >= 0) config_.lock_wait_ms = options_.lock_wait_ms;
}

const model::Schema& Context::schema() {
  if (!schema_) schema_ = model::load_schema_dir(config_.schema_dir);
  return *schema_;
}

const dialect::ConnectionTarget& Context::target() {
  if (target_) return *target_;
  if (!options_.db.empty()) {
    target_ = dialect::parse_connection_target(options_.db);
  } else if (const char* env = std::getenv("CONSTRAINTCTL_DB"); env && *env) {
    target_ = dialect::parse_connection_target(env);
  } else if (config_.database) {
    target_ = dialect::parse_connection_target(*config_.database);
    // A relative SQLite path in the config file is relative to the project.
    target_->resolve_relative_to(config_.project_dir);
  } else {
    throw UsageError("no database given: pass --db URL, set CONSTRAINTCTL_DB, or set 'database' in constraintctl.toml");
  }
  return *target_;
}

std::unique_ptr<dialect::Connection> Context::connect(bool read_only) {
  dialect::ConnectOptions opts;
  opts.read_only = read_only;
  opts.busy_timeout_ms = config_.sqlite_busy_timeout_ms;
  opts.statement_timeout_ms = config_.postgres_statement_timeout_ms;
  opts.lock_wait_ms = config_.lock_wait_ms;
  const auto& t = target();
  try {
    return dialect::open_connection(t, opts);
  } catch (const std::exception& e) {
    rethrow_with_context(e, "connect to " + t.display());
  }
}

bool Context::show_progress() const { return !options_.quiet && isatty(STDERR_FILENO); }

bool Context::color() const {
  const char* no_color = std::getenv("NO_COLOR");
  return isatty(STDOUT_FILENO) && !(no_color && *no_color);
}

}  // namespace cc::app
