// The SQL a scan runs, rendered per dialect without a connection (golden-file
// tested). Semantics follow the databases' own CHECK rule: a row violates a
// check when NOT (predicate) is TRUE, so a NULL predicate passes.
#pragma once

#include <string>
#include <vector>

#include "dialect/dialect.h"
#include "model/schema.h"

namespace cc::scan {

// The check's condition as SQL: "xp" >= 0, "status" IN ('Un', ...), or (expr).
std::string check_predicate(const model::Check& check, const dialect::Dialect& d);

// One pass over `table` counting the violations of every check at once:
// SELECT <count of NOT p1>, <count of NOT p2>, ... FROM t WHERE NOT (p1 AND p2 ...)
// The WHERE keeps only rows breaking at least one rule, so the per-rule
// classification runs on those alone. Result: one row, one count per check.
// `range` (a condition from Connection::split_ranges) limits the pass to
// one part of the table.
std::string check_count_query(const model::TableName& table, const std::vector<const model::Check*>& checks,
                              const dialect::Dialect& d, const std::string& range = "");

// The same pass returning rows instead of counts (scan --fix collects the
// keys it repairs from it): the key columns, then per check 1 when the row
// breaks it, else 0.
std::string check_rows_query(const model::TableName& table, const std::vector<const model::Check*>& checks,
                             const std::vector<std::string>& key, const dialect::Dialect& d,
                             const std::string& range = "");

// The first `limit` violating rows by key: key columns, then `shown` columns.
std::string check_sample_query(const model::TableName& table, const model::Check& check,
                               const std::vector<std::string>& key, const std::vector<std::string>& shown, int limit,
                               const dialect::Dialect& d);

// One grouped pass for a UNIQUE: duplicate groups among rows whose key has no
// NULL (NULLs are distinct) and that match the partial `where`. Rows out:
//   (0, groups, surplus rows, NULL, NULL...)              exactly one summary row
//   (1, rows in group, NULL, ids, key values...)          up to `limit` sample groups
std::string unique_query(const model::TableName& table, const model::Unique& unique,
                         const std::vector<std::string>& key, int limit, const dialect::Dialect& d);

// The same grouped pass returning the duplicated groups themselves (scan
// --fix restricts its search for surplus rows to them): the UNIQUE's
// columns and the group's row count, one row per group.
std::string unique_groups_query(const model::TableName& table, const model::Unique& unique, const dialect::Dialect& d);

// An expression naming a row: the primary key column, several joined with
// '/', or the dialect's row id.
std::string row_key_expr(const std::vector<std::string>& key, const dialect::Dialect& d);

}  // namespace cc::scan
