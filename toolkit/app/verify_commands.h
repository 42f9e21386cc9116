// verify, drop-checks, health.
#pragma once

#include <string>
#include <vector>

#include "app/context.h"
#include "core/error.h"

namespace cc::app {

ExitCode run_verify(Context& ctx, bool strict);

struct DropChecksOptions {
  std::vector<std::string> tables;
  std::string constraint;
  int lock_wait_ms = -1;  // -1: lock_wait_ms in constraintctl.toml (default 10000)
  bool dry_run = false;
};
ExitCode run_drop_checks(Context& ctx, const DropChecksOptions& options);

struct HealthOptions {
  int fail_under = -1;
};
ExitCode run_health(Context& ctx, const HealthOptions& options);

}  // namespace cc::app
