// `constraintctl inspect`: schema/*.toml from a live database, and the
// baseline migration that adopts what it found.
#pragma once

#include <string>
#include <vector>

#include "app/context.h"
#include "core/error.h"

namespace cc::app {

struct InspectOptions {
  std::vector<std::string> tables;  // empty: every table but constraintctl's own
  bool dry_run = false;             // print the files, write and record nothing
  bool force = false;               // overwrite existing schema files
};

ExitCode run_inspect(Context& ctx, const InspectOptions& options);

}  // namespace cc::app
