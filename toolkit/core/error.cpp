#include "core/error.h"

#include <string>

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
