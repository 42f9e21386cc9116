// One table as the audit sees it, shared by the fix, its undo and the
// trigger capture (scan/fixer.h, scan/capture.h), so the images they write
// and compare can never disagree: the key that names a row (its primary key,
// else a row id that survives updates), the columns an image holds (every
// column but the generated ones) and the SQL that reads and matches them.
//
// A table without such a key: the capture records its changes all the same
// (empty key, key_json an empty object, rows told apart by their content);
// the fix refuses to update its rows (unnamable_rows), since undo could not
// find them, but may delete them (Keyless::deletes): each row is named by the
// row id within the one statement that deletes it and audits its image, and
// undo puts the images back. Each caller says which it wants.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dialect/connection.h"
#include "model/schema.h"

namespace cc::scan {

struct AuditedTable {
  const dialect::Dialect* d = nullptr;
  model::TableName name;  // as declared
  std::string q;          // quoted (with its schema)
  dialect::TableInfo info;
  std::vector<std::string> key;    // primary key columns, or {row id}; empty: no key (capture only)
  std::vector<std::string> data;   // columns an image holds and a restore writes (not generated)
  std::vector<std::string> types;  // type_of() of each data column
  // Keyless::deletes on a table without a stable key: `key` is the row id,
  // which names a row only within one statement; the audit keeps no key
  // (key_json is an empty object) and undo re-inserts every image.
  bool deletes_only = false;

  // The audit table's columns naming a table, and this table's values for them.
  static constexpr const char* kAuditColumns = "table_name, table_schema";
  std::string audit_values() const;
  // Audit row `audit` is of this table.
  std::string audit_of(const std::string& audit) const;
  // The key columns (of `alias`, or unqualified), comma separated.
  std::string key_list(std::string_view alias = "") const;
  // The key of row `alias` as a JSON object (an empty object without a key).
  std::string key_json(std::string_view alias) const;
  // The image of row `alias`: every data column, losslessly.
  std::string row_json(std::string_view alias) const;
  std::string type_of(const std::string& col) const;
  // The key stored in audit row `audit`, one typed value per key column,
  // comma separated (what key_list() is compared with).
  std::string key_values(const std::string& audit) const;
  // alias's key equals the key stored in audit row `audit`.
  std::string key_match(const std::string& alias, const std::string& audit) const;
};

// Why a fix cannot name the rows of `info` that it changes, or "".
std::string unnamable_rows(const dialect::Dialect& d, const dialect::TableInfo& info);

enum class Keyless {
  allowed,  // capture: a table without a key gets key = {}
  refused,  // fix and undo: throws UsageError (unnamable_rows), and for a missing table
  deletes,  // fix and undo of repairs that only delete: a table without a stable key gets deletes_only
};
AuditedTable audited_table(dialect::Connection& db, const model::TableName& table, Keyless keyless);

}  // namespace cc::scan
