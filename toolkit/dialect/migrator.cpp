#include "dialect/migrator.h"

#include "core/error.h"

namespace cc::dialect {

std::unique_ptr<Migrator> make_migrator(Connection& db, const MigratorOptions& options) {
  return db.dialect().kind() == Kind::sqlite ? make_sqlite_migrator(db, options) : make_postgres_migrator(db, options);
}

namespace detail {

std::vector<HistoryRow> read_history(Connection& db, bool table_exists) {
  std::vector<HistoryRow> rows;
  if (!table_exists) return rows;
  db.query(std::string("SELECT id, version, name, checksum, direction, CAST(started_at AS text), CAST(finished_at AS text), "
                       "tool_version, applied_by FROM ") +
               kHistoryTable + " ORDER BY id",
           [&](const Row& r) {
             HistoryRow h;
             h.id = value_int(r[0]);
             h.version = static_cast<int>(value_int(r[1]));
             h.name = value_text(r[2]);
             h.checksum = value_text(r[3]);
             h.direction = value_text(r[4]);
             h.started_at = value_text(r[5]);
             h.finished_at = value_text(r[6]);
             h.tool_version = value_text(r[7]);
             h.applied_by = value_text(r[8]);
             rows.push_back(std::move(h));
           });
  return rows;
}

std::string history_insert(const Dialect& d, const migrate::Migration& m, bool up, const std::string& started_at,
                           const MigratorOptions& options) {
  return std::string("INSERT INTO ") + kHistoryTable +
         " (version, name, checksum, direction, started_at, tool_version, applied_by) VALUES (" + std::to_string(m.version) +
         ", " + d.quote_string(m.name) + ", " + d.quote_string(m.checksum) + ", " + (up ? "'up'" : "'down'") + ", " +
         started_at + ", " + d.quote_string(options.tool_version) + ", " + d.quote_string(options.applied_by) + ")";
}

std::string current_direction(Connection& db, int version) {
  std::string dir;
  db.query(std::string("SELECT direction FROM ") + kHistoryTable + " WHERE version = " + std::to_string(version) +
               " ORDER BY id DESC LIMIT 1",
           [&](const Row& r) { dir = value_text(r[0]); });
  return dir;
}

}  // namespace detail
}  // namespace cc::dialect
