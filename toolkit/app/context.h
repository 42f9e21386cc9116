// What every command needs: the project's settings, the declared schema and a
// connection, resolved from the global options in a fixed order
// (--db, then CONSTRAINTCTL_DB, then constraintctl.toml).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "app/output.h"
#include "dialect/connection.h"
#include "model/config.h"
#include "model/schema.h"

namespace cc::app {

struct GlobalOptions {
  std::string db;  // --db
  std::string project = ".";
  std::string schema_dir;        // --schema overrides the config
  bool json = false;             // --json, or --format json
  Format format = Format::text;  // --format (main() validates it for the command)
  bool quiet = false;
  bool verbose = false;
  int lock_wait_ms = -1;  // --lock-wait-ms of the command; -1: lock_wait_ms in constraintctl.toml
};

class Context {
 public:
  explicit Context(GlobalOptions options);

  const GlobalOptions& options() const { return options_; }
  const model::Config& config() const { return config_; }

  // Loads and validates schema/ (no connection is opened before this passes).
  const model::Schema& schema();

  // Where to connect; throws cc::UsageError naming the three ways to say it.
  const dialect::ConnectionTarget& target();

  std::unique_ptr<dialect::Connection> connect(bool read_only);

  // True when progress may be drawn: stderr is a terminal and not --quiet.
  bool show_progress() const;
  // True when stdout is a terminal and NO_COLOR is unset or empty.
  bool color() const;

 private:
  GlobalOptions options_;
  model::Config config_;
  std::optional<model::Schema> schema_;
  std::optional<dialect::ConnectionTarget> target_;
};

}  // namespace cc::app
