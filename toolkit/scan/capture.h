// What user triggers do during a fix, captured so fix-undo can reverse it.
//
// Before the fix writes anything, the tables the fix may write (the repaired
// tables and, through foreign keys, every table referencing them) are
// followed to their user triggers, and the tables those triggers name (their
// triggers in turn, as a chain) get a change capture
// (dialect::Connection::begin_change_capture): every row inserted, updated or
// deleted there is recorded in order, with lossless before- and after-images.
// Once the fix's writes are done the capture is folded into the audit, leaving
// out the rows the fix audited itself: per row, its image before the fix and
// after it, as 'trigger_insert' / 'trigger_update' / 'trigger_delete' audit
// rows (a table without any key records each change, and undo removes one
// equal row). fix-undo reverses them in reverse order, triggers not firing.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dialect/connection.h"
#include "model/schema.h"

namespace cc::scan {

// What user triggers changed in one table during a fix, as captured and audited.
struct TriggerEffect {
  std::string table;
  std::int64_t inserted = 0;
  std::int64_t updated = 0;
  std::int64_t deleted = 0;
};

class TriggerCapture {
 public:
  // `written`: the tables the fix repairs. Reads the catalog only.
  TriggerCapture(dialect::Connection& db, const std::vector<model::TableName>& written);
  // The tables whose changes are recorded (empty: no user trigger can fire).
  const std::vector<model::TableName>& tables() const { return tables_; }
  // Inside the fix's transaction, before its first write. Throws
  // cc::DatabaseError when a table cannot be captured (PostgreSQL: neither
  // its owner nor the TRIGGER privilege); the caller's savepoint takes it back.
  void start();
  // After the fix's writes: the captured changes the fix did not audit
  // itself go into the audit of `run_id` (audit rows written added to
  // `audited`), the after-images of rows it did audit are read again (a
  // later trigger may have changed them), and the capture is removed.
  // Where the database counts a transaction's writes (PostgreSQL), a table
  // written that no capture records (a trigger's dynamic SQL) throws
  // cc::Error (findings) naming it, so the fix rolls back; with `allow` it
  // is named in `uncaptured` instead.
  std::vector<TriggerEffect> finish(const std::string& run_id, std::int64_t& audited, bool allow,
                                    std::vector<std::string>& uncaptured);
  // After finish(): the tables (by name, without schema) in which the
  // capture recorded a change of a row the fix did not audit itself.
  const std::set<std::string>& changed_tables() const { return changed_; }

 private:
  dialect::Connection& db_;
  std::vector<model::TableName> tables_;
  std::set<std::string> known_;  // every table the fix or a trigger it fires names
  std::set<std::string> changed_;
  std::optional<std::vector<std::pair<std::string, std::int64_t>>> writes_before_;
  bool started_ = false;
};

// fix-undo, before it writes anything: the rows triggers changed during
// `run_id` must still hold what the run left (a row a trigger inserted or
// updated) or still be absent (one it deleted); otherwise it throws
// cc::Error (findings) naming them, unless `force` (then counted in
// `forced`, and a row whose key was taken again stays out).
struct CapturedUndo {
  struct Item {
    std::int64_t id;
    model::TableName table;
    std::string action;
    bool skip = false;  // forced past a conflict that leaves it as it is
  };
  std::vector<Item> items;               // newest first
  std::vector<model::TableName> tables;  // every table they write
};
CapturedUndo check_captured(dialect::Connection& db, const std::string& run_id, bool force, std::int64_t& forced);
// Reverses them, newest first. Returns the rows written.
std::int64_t undo_captured(dialect::Connection& db, const std::string& run_id, const CapturedUndo& undo);

}  // namespace cc::scan
