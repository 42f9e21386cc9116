#include "dialect/connection.h"

#include "core/error.h"
#include "model/expression.h"

namespace cc::dialect {

std::unique_ptr<Connection> open_connection(const ConnectionTarget& target, const ConnectOptions& options) {
  return target.kind == Kind::sqlite ? open_sqlite(target, options) : open_postgres(target, options);
}

Transaction::Transaction(Connection& db, Mode mode) : db_(db) {
  switch (mode) {
    case Mode::write: db_.execute(db_.dialect().begin_write()); break;
    case Mode::read_snapshot: db_.begin_read_snapshot(); break;
    case Mode::begun: break;
    case Mode::probes:
      for (const auto& sql : db_.dialect().begin_probes()) {
        try {
          db_.execute(sql);
        } catch (...) {
          if (sql != db_.dialect().begin_probes().front()) db_.rollback();
          throw;
        }
      }
      break;
  }
}

Transaction::~Transaction() {
  if (!open_) return;
  try {
    db_.rollback();
  } catch (...) {
    // The error that unwound us matters more than a rollback on a broken connection.
  }
}

void Transaction::commit() {
  open_ = false;
  db_.commit();
}

void Transaction::rollback() {
  open_ = false;
  db_.rollback();
}

Savepoint::Savepoint(Connection& db, std::string name) : db_(db), name_(std::move(name)) {
  db_.execute("SAVEPOINT " + db_.dialect().quote_ident(name_));
}

Savepoint::~Savepoint() {
  if (!open_) return;
  try {
    rollback();
  } catch (...) {
    // As for Transaction: the original error wins.
  }
}

void Savepoint::release() {
  open_ = false;
  db_.execute("RELEASE SAVEPOINT " + db_.dialect().quote_ident(name_));
}

void Savepoint::rollback() {
  open_ = false;
  db_.rollback_to_savepoint(db_.dialect().quote_ident(name_));
}

void require_single_expression(std::string_view expr) {
  if (auto why = model::vet_expression(expr); !why.empty()) throw UsageError("expression " + why);
}

}  // namespace cc::dialect
