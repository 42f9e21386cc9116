// Lexical vetting of user-written SQL expressions (CHECK `expr`, UNIQUE
// `where`, `set_expr` repairs) before any database sees them.
//
// An accepted expression is one balanced expression in the SQL subset both
// dialects read the same way: no statement separators, comments, parameters,
// subqueries, backslashes in strings, escape-string prefixes or non-standard
// quoting. The database's own parser then checks it once more (the driver's
// validate_expression) before a scan runs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cc::model {

// Empty when `expr` is acceptable, otherwise the reason it is not.
std::string vet_expression(std::string_view expr);

// The identifiers (bare words or quoted) an expression mentions, in order of
// first appearance, excluding keywords and function names. Used to pick the
// columns shown beside sample rows.
std::vector<std::string> expression_identifiers(std::string_view expr);

// Empty when `name` is acceptable as a table, column or constraint name,
// otherwise the reason. Names are quoted wherever they are used, so any text
// is fine except: empty, NUL or control characters, or more than 63 bytes
// (PostgreSQL's limit, which would silently truncate).
std::string vet_identifier(std::string_view name);

// `name` for a message: control characters (NUL included) shown as \xNN.
std::string printable(std::string_view name);

}  // namespace cc::model
