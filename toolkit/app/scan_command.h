#pragma once

#include <map>
#include <string>
#include <vector>

#include "app/context.h"
#include "app/output.h"
#include "core/error.h"
#include "scan/scanner.h"

namespace cc::app {

struct ScanCommandOptions {
  std::vector<std::string> tables;
  int sample = -1;  // -1: 5 when samples are shown (--verbose or --json), else 0
  bool fix = false;
  bool dry_run = false;
  bool allow_cascade = false;
  bool skip_refused = false;
  bool refuse_triggers = false;
  bool allow_triggers = false;
  std::vector<std::string> policies;  // NAME=POLICY overrides for this run
  int jobs = 0;                       // connections reading in parallel, in one snapshot (1: serial, 0: the dialect's)
};

// `constraintctl scan [--fix [--dry-run]]`: prints the report; returns ok, or
// findings when any row violates (after the fix, for --fix).
ExitCode run_scan_command(Context& ctx, const ScanCommandOptions& options);

// `constraintctl fix-undo RUN_ID`.
ExitCode run_fix_undo(Context& ctx, const std::string& run_id, bool force = false);

// A scan as CI formats see it: one outcome per declared constraint, failed
// when rows violate it, located at its declaration in schema/.
std::vector<Outcome> scan_outcomes(const scan::ScanReport& report);

// The who@where recorded in history and audit rows.
std::string applied_by();

}  // namespace cc::app
