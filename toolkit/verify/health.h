// health: one 0-100 number for cron and alerting, from violations, verify
// findings and migration state (formula in docs/health.md).
#pragma once

#include <string>
#include <vector>

#include "migrate/engine.h"
#include "scan/scanner.h"
#include "verify/verifier.h"

namespace cc::verify {

struct TableHealth {
  std::string table;
  int score = 100;
  std::int64_t violations = 0;
  size_t declared = 0;
  size_t violated = 0;
  size_t expected = 0;
  size_t verified = 0;
};

struct HealthReport {
  int score = 100;
  double data = 1;        // share of declared constraints no row violates            (weight 40)
  double enforcement = 1; // share of expected constraints verified (dropped: half)   (weight 40)
  double migrations = 1;  // 1 - 0.25 per pending version or unsaved schema change    (weight 20)
  std::int64_t violations = 0;
  size_t pending = 0;
  size_t unsaved_changes = 0;
  size_t failures = 0;
  std::vector<TableHealth> tables;
  std::vector<std::string> notes;
};

HealthReport compute_health(const scan::ScanReport& scan, const VerifyReport& verify, const migrate::Status& status,
                            size_t unsaved_changes);

}  // namespace cc::verify
