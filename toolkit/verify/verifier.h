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
  std::string status;  // ok | missing | different | not_validated | not_enforced | unexpected | unmanaged | missing_table
  std::string detail;  // what is wrong, or how it was proven
  std::string probe;   // "rejected", "skipped: ...", "accepted" (a failure)
  bool expected_absent = false;  // dropped by drop-checks
};

struct VerifyReport {
  int version = 0;
  std::vector<Finding> constraints;  // managed: expected, dropped, left over
  std::vector<Finding> unmanaged;    // PK, FK, an application's own CHECK/UNIQUE
  std::vector<std::string> problems; // history/file inconsistencies
  bool strict = false;

  size_t failures() const;  // findings that are not ok (strict: unmanaged CHECK/UNIQUE count)
};

VerifyReport run_verify(dialect::Connection& db, dialect::Migrator& migrator, const std::vector<migrate::Migration>& migrations,
                        bool strict);

}  // namespace cc::verify
