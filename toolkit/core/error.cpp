#include "core/error.h"

#include <string>

namespace cc {

void rethrow_with_context(const std::exception& e, std::string_view context) {
  std::string message = std::string(context) + ": " + e.what();
  if (auto* db = dynamic_cast<const DatabaseError*>(&e)) {
    throw DatabaseError(std::move(message), db->sqlstate(), db->sqlite_code());
  }
  if (auto* err = dynamic_cast<const Error*>(&e)) {
    throw Error(err->code(), std::move(message), err->problems());
  }
  throw Error(ExitCode::internal, std::move(message));
}

}  // namespace cc
