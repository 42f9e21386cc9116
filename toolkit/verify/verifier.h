// verify: every constraint that should exist is in the catalog, with the
// declared definition, validated, and enforced (a probe write that must be
// rejected, inside a savepoint rolled back: no trace). Also reports drift
// and lists the constraints constraintctl does not manage.
#pragma once

#include <string>
#include <vector>

#include "dialect/migrator.h"
#include "model/migration.h"

namespace cc::verify {

struct Finding {
  std::string table;
  std::string name;
  std::string kind;    // check | unique | primary_key | foreign_key | unique_index
  // What was found. ok: present, as declared, validated and enforced (a probe
  // was refused by it). Not findings: dropped (removed by drop-checks, as
  // intended; apply restores it), not_applied (in a migration not applied
  // yet), skipped (present and validated, but the probe could not run: the
  // detail says why), in_progress (built by an interrupted run that apply
  // finishes or rollback undoes; `status` shows it). Findings: missing | different | not_validated |
  // not_enforced | unexpected | missing_table. Also: unmanaged.
  std::string status;
  std::string detail;  // what is wrong, or how it was proven
  std::string probe;   // "rejected", "skipped: ...", "accepted" (a failure)
  bool expected_absent = false;  // dropped by drop-checks
};

// A status that makes verify exit 1 (see Finding::status).
bool is_failure(const std::string& status);

struct VerifyReport {
  int version = 0;
  std::vector<Finding> constraints;  // managed: expected, dropped, left over
  std::vector<Finding> unmanaged;    // PK, FK, an application's own CHECK/UNIQUE
  std::vector<std::string> problems; // history/file inconsistencies
  bool strict = false;

  size_t failures() const;  // findings (is_failure; strict: unmanaged CHECK/UNIQUE count too)
  size_t count(const std::string& status) const;
};

VerifyReport run_verify(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<migrate::Migration>& migrations,
                        bool strict);

}  // namespace cc::verify
