// The part of a driver that SOCI makes dialect-neutral: running statements,
// transactions. Rows are read by each driver natively, so that every value
// keeps its type. Each dialect subclass translates its
// own errors and adds catalog inspection and expression validation.
#pragma once

#include <soci/soci.h>

#include "dialect/connection.h"

namespace cc::dialect {

class SociConnection : public Connection {
 public:
  void commit() override;
  void rollback() override;
  void execute(std::string_view sql) override;
  std::int64_t execute_count(std::string_view sql) override;

 protected:
  // Turns a back end's exception into a cc::DatabaseError (SQLSTATE or SQLite
  // code kept, secrets scrubbed) and throws it.
  [[noreturn]] virtual void raise(const std::exception& e) const = 0;

  soci::session session_;
};

}  // namespace cc::dialect
