#include "core/error.h"

#include <string>
#include <vector>

namespace cc {

std::string_view to_string(DbErrorKind kind) {
  switch (kind) {
    case DbErrorKind::other: return "database_error";
    case DbErrorKind::check_violation: return "check_violation";
    case DbErrorKind::unique_violation: return "unique_violation";
    case DbErrorKind::not_null_violation: return "not_null_violation";
    case DbErrorKind::foreign_key_violation: return "foreign_key_violation";
    case DbErrorKind::lock_timeout: return "lock_timeout";
    case DbErrorKind::statement_timeout: return "statement_timeout";
    case DbErrorKind::busy: return "busy";
    case DbErrorKind::deadlock: return "deadlock";
    case DbErrorKind::serialization: return "serialization_failure";
    case DbErrorKind::storage_full: return "storage_full";
    case DbErrorKind::read_only: return "read_only";
    case DbErrorKind::permission_denied: return "permission_denied";
    case DbErrorKind::syntax: return "syntax_error";
    case DbErrorKind::undefined_object: return "undefined_object";
    case DbErrorKind::connection: return "connection_failure";
  }
  return "database_error";
}

std::string database_sentence(const DatabaseError& e) {
  std::string message = e.what();
  // One line: a multi-line server message (DETAIL, HINT, LINE 1: ...) is joined.
  for (size_t i = 0; (i = message.find('\n', i)) != std::string::npos;) {
    size_t j = i;
    while (j < message.size() && (message[j] == '\n' || message[j] == ' ')) ++j;
    message.replace(i, j - i, "; ");
  }
  while (!message.empty() && (message.back() == ' ' || message.back() == ';' || message.back() == '.'))
    message.pop_back();
  std::vector<std::string> extra;
  if (e.kind() != DbErrorKind::other) extra.emplace_back(to_string(e.kind()));
  const auto& d = e.detail();
  if (!d.table.empty() && message.find(d.table) == std::string::npos) extra.push_back("table " + d.table);
  if (!d.constraint.empty() && message.find(d.constraint) == std::string::npos)
    extra.push_back("constraint " + d.constraint);
  if (!d.code_label.empty()) extra.push_back(d.code_label);
  std::string out = message;
  if (!extra.empty()) {
    out += " (";
    for (size_t i = 0; i < extra.size(); ++i) out += (i ? ", " : "") + extra[i];
    out += ")";
  }
  return out;
}

void rethrow_with_context(const std::exception& e, std::string_view context) {
  std::string message = std::string(context) + ": " + e.what();
  if (auto* db = dynamic_cast<const DatabaseError*>(&e)) {
    throw DatabaseError(std::move(message), db->kind(), db->detail());
  }
  if (auto* err = dynamic_cast<const Error*>(&e)) {
    throw Error(err->code(), std::move(message), err->problems());
  }
  throw Error(ExitCode::internal, std::move(message));
}

}  // namespace cc
