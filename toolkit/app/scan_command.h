#pragma once

#include <string>
#include <vector>

#include "app/context.h"
#include "core/error.h"

namespace cc::app {

struct ScanCommandOptions {
  std::vector<std::string> tables;
  int sample = -1;  // -1: 5 when samples are shown (--verbose or --json), else 0
};

// `constraintctl scan`: prints the report; returns ok, or findings when any row violates.
ExitCode run_scan_command(Context& ctx, const ScanCommandOptions& options);

}  // namespace cc::app
