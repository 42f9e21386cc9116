#include "scan/capture.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/text.h"
#include "scan/audited_table.h"

namespace cc::scan {
namespace {

using dialect::Connection;
using dialect::Row;

constexpr const char* kAudit = "constraintctl_audit";

using text::join;

std::string lower(std::string_view s) { return text::ascii_lower(s); }

std::string id_key(const model::TableName& t, const std::string& key) {
  return t.schema + '\x1f' + t.name + '\x1f' + key;
}

std::optional<std::string> text_or_null(const dialect::Value& v) {
  if (std::holds_alternative<std::monostate>(v)) return std::nullopt;
  return dialect::value_text(v);
}

}  // namespace

TriggerCapture::TriggerCapture(Connection& db, const std::vector<model::TableName>& written) : db_(db) {
  // Every table the fix may write: the repaired ones and, through foreign
  // keys (cascades, SET NULL / SET DEFAULT, repointed references), every
  // table referencing them, at any depth.
  std::vector<model::TableName> queue = written;
  std::set<std::string>& seen = known_;
  for (const auto& t : queue) seen.insert(t.str());
  for (size_t i = 0; i < queue.size(); ++i) {
    const auto info = db.inspect_table(queue[i]);
    for (const auto& ref : info.referrers) {
      if (seen.insert(ref.table.str()).second) queue.push_back(ref.table);
    }
  }
  // Their triggers, the tables those name, and the triggers of those in turn.
  std::vector<std::string> all;
  for (const auto& name : db.list_tables()) {
    if (name.rfind("constraintctl_", 0) != 0) all.push_back(name);
  }
  std::set<std::string> captured;
  for (size_t i = 0; i < queue.size(); ++i) {
    for (const auto& src : db.trigger_sources(queue[i])) {
      const std::string text = lower(src.text);
      for (const auto& name : all) {
        if (!text::names_word(text, lower(name))) continue;
        if (captured.insert(name).second) tables_.push_back(model::TableName{name, ""});
        if (seen.insert(model::TableName{name, ""}.str()).second) queue.push_back(model::TableName{name, ""});
      }
    }
  }
}

void TriggerCapture::start() {
  // Counted even when no trigger names a table: one whose only write is
  // dynamic SQL is caught by the counts alone.
  writes_before_ = db_.transaction_writes();
  if (tables_.empty()) return;
  std::vector<dialect::CaptureTable> specs;
  for (const auto& t : tables_) {
    auto s = std::make_shared<AuditedTable>(audited_table(db_, t, Keyless::allowed));
    specs.push_back(dialect::CaptureTable{t, [s](std::string_view alias) { return s->key_json(alias); },
                                          [s](std::string_view alias) { return s->row_json(alias); }});
  }
  db_.begin_change_capture(specs);
  started_ = true;
}

std::vector<TriggerEffect> TriggerCapture::finish(const std::string& run_id, std::int64_t& audited, bool allow,
                                                  std::vector<std::string>& uncaptured) {
  std::vector<TriggerEffect> effects;
  // Tables written that neither the fix nor any trigger it fires names.
  if (writes_before_) {
    std::map<std::string, std::int64_t> before(writes_before_->begin(), writes_before_->end());
    std::vector<std::string> hidden;
    for (const auto& [table, n] : db_.transaction_writes().value_or(*writes_before_)) {
      if (n <= before[table] || known_.count(table) || table.rfind("constraintctl_", 0) == 0) continue;
      hidden.push_back("'" + table + "'");
    }
    if (!hidden.empty()) {
      const std::string why = "user triggers wrote rows of " + join(hidden, ", ") +
                              ", which no trigger names (dynamic SQL?), so the capture did not record them";
      if (!allow) {
        throw Error(ExitCode::findings, "fix refused: " + why +
                                            " and fix-undo could not reverse them.\nNothing was changed "
                                            "(--allow-triggers goes ahead without recording them).");
      }
      uncaptured.push_back(why);
    }
  }
  if (!started_) return effects;
  const auto& d = db_.dialect();
  const std::string run = d.quote_string(run_id);
  // Rows the fix audited itself, of the captured tables only (no other is
  // compared with them): the rows a large fix repaired elsewhere stay out of
  // memory.
  std::set<std::string> mine;
  std::vector<std::string> captured;
  for (const auto& t : tables_) captured.push_back(d.quote_string(t.name));
  db_.query(
      std::string("SELECT table_name, table_schema, CAST(row_key AS TEXT) FROM ") + kAudit + " WHERE run_id = " + run +
          " AND table_name IN (" + join(captured, ", ") + ")",
      [&](const Row& r) {
        mine.insert(id_key({dialect::value_text(r[0]), dialect::value_text(r[1])}, dialect::value_text(r[2])));
      });
  struct Change {
    std::int64_t seq;
    model::TableName table;
    std::string op;
    std::optional<std::string> old_key, new_key;
  };
  std::vector<Change> changes;
  db_.query(
      "SELECT seq, table_name, table_schema, op, CAST(old_key AS TEXT), CAST(new_key AS TEXT) FROM cc_capture "
      "ORDER BY seq",
      [&](const Row& r) {
        changes.push_back(Change{dialect::value_int(r[0]),
                                 {dialect::value_text(r[1]), dialect::value_text(r[2])},
                                 dialect::value_text(r[3]),
                                 text_or_null(r[4]),
                                 text_or_null(r[5])});
      });
  std::map<std::string, AuditedTable> by_name;
  auto table_of = [&](const model::TableName& t) -> const AuditedTable& {
    auto it = by_name.find(t.str());
    if (it == by_name.end()) it = by_name.emplace(t.str(), audited_table(db_, t, Keyless::allowed)).first;
    return it->second;
  };
  // What to write into the audit, in the order the changes happened.
  struct Emit {
    std::string action;  // trigger_insert | trigger_update | trigger_delete
    model::TableName table;
    std::int64_t before_seq = 0;  // its old_row and old_key
    std::int64_t after_seq = 0;   // its new_row and new_key
  };
  std::vector<Emit> emits;
  struct Life {
    model::TableName table;
    bool existed;
    std::int64_t first_seq;
    bool exists;
    std::int64_t last_seq;
  };
  std::map<std::string, size_t> life_of;
  std::vector<Life> lives;
  std::set<std::string> refresh;  // tables with rows the fix audited that a trigger changed too
  auto touch = [&](const model::TableName& t, const std::string& key, bool before, bool after, std::int64_t seq) {
    const std::string id = id_key(t, key);
    auto it = life_of.find(id);
    if (it == life_of.end()) {
      life_of.emplace(id, lives.size());
      lives.push_back(Life{t, before, seq, after, seq});
    } else {
      lives[it->second].exists = after;
      lives[it->second].last_seq = seq;
    }
  };
  for (const auto& c : changes) {
    const bool audited_old = c.old_key && mine.count(id_key(c.table, *c.old_key));
    const bool audited_new = c.new_key && mine.count(id_key(c.table, *c.new_key));
    // A change of rows the fix audited itself (its own writes, or a
    // trigger's on them) is counted with those rows; any other is not.
    if ((c.old_key && !audited_old) || (c.new_key && !audited_new)) changed_.insert(c.table.name);
    if (audited_old || audited_new) {
      refresh.insert(c.table.str());
      continue;  // the fix's own audit row restores it
    }
    const AuditedTable& s = table_of(c.table);
    if (s.key.empty()) {
      // No key: each change on its own; undo deletes one equal row, inserts the old one.
      if (c.op != "insert") emits.push_back(Emit{"trigger_delete", c.table, c.seq, 0});
      if (c.op != "delete") emits.push_back(Emit{"trigger_insert", c.table, 0, c.seq});
      continue;
    }
    if (c.op == "insert") {
      touch(c.table, *c.new_key, false, true, c.seq);
    } else if (c.op == "delete") {
      touch(c.table, *c.old_key, true, false, c.seq);
    } else if (*c.old_key == *c.new_key) {
      touch(c.table, *c.old_key, true, true, c.seq);
    } else {  // its key changed: the old row gone, a new one there
      touch(c.table, *c.old_key, true, false, c.seq);
      touch(c.table, *c.new_key, false, true, c.seq);
    }
  }
  for (const auto& l : lives) {
    if (l.existed && l.exists) emits.push_back(Emit{"trigger_update", l.table, l.first_seq, l.last_seq});
    if (l.existed && !l.exists) emits.push_back(Emit{"trigger_delete", l.table, l.first_seq, 0});
    if (!l.existed && l.exists) emits.push_back(Emit{"trigger_insert", l.table, 0, l.last_seq});
  }
  // Keyed rows in the order they were first touched, rows without a key in
  // the order they changed: undo walks them backwards.
  std::map<std::string, size_t> effect_of;
  for (const auto& e : emits) {
    const AuditedTable& s = table_of(e.table);
    const std::string names_sql = d.quote_string(e.table.name) + ", " + d.quote_string(e.table.schema);
    std::string sql = std::string("INSERT INTO ") + kAudit +
                      " (run_id, table_name, table_schema, action, row_key, before_row, after_row) SELECT " + run +
                      ", " + names_sql + ", " + d.quote_string(e.action) + ", ";
    if (e.action == "trigger_update") {
      sql += "cc_b.old_key, cc_b.old_row, cc_a.new_row FROM cc_capture AS cc_b, cc_capture AS cc_a WHERE cc_b.seq = " +
             std::to_string(e.before_seq) + " AND cc_a.seq = " + std::to_string(e.after_seq) +
             " AND NOT (cc_b.old_row = cc_a.new_row)";
    } else if (e.action == "trigger_delete") {
      sql +=
          "cc_b.old_key, cc_b.old_row, NULL FROM cc_capture AS cc_b WHERE cc_b.seq = " + std::to_string(e.before_seq);
    } else {  // the image of a row that was not there: its own after-image
      sql += "cc_a.new_key, cc_a.new_row, cc_a.new_row FROM cc_capture AS cc_a WHERE cc_a.seq = " +
             std::to_string(e.after_seq);
    }
    const auto n = db_.execute_count(sql);
    if (n == 0) continue;
    audited += n;
    auto it = effect_of.find(s.name.str());
    if (it == effect_of.end()) {
      it = effect_of.emplace(s.name.str(), effects.size()).first;
      effects.push_back(TriggerEffect{s.name.str(), 0, 0, 0});
    }
    auto& fx = effects[it->second];
    (e.action == "trigger_insert" ? fx.inserted : e.action == "trigger_update" ? fx.updated : fx.deleted) += n;
  }
  // A row the fix audited and a trigger changed afterwards (a later table's
  // repair firing it): its after-image is what the run finally left.
  for (const auto& t : tables_) {
    if (!refresh.count(t.str())) continue;
    const AuditedTable& s = table_of(t);
    if (s.key.empty()) continue;
    const std::string rows = std::string(kAudit) + ".run_id = " + run + " AND " + s.audit_of(kAudit);
    db_.execute(std::string("UPDATE ") + kAudit + " SET action = 'delete', after_row = NULL WHERE " + rows +
                " AND action = 'update' AND NOT EXISTS (SELECT 1 FROM " + s.q + " AS cc_row WHERE " +
                s.key_match("cc_row", kAudit) + ")");
    db_.execute(std::string("UPDATE ") + kAudit + " SET after_row = (SELECT " + s.row_json("cc_row") + " FROM " + s.q +
                " AS cc_row WHERE " + s.key_match("cc_row", kAudit) + ") WHERE " + rows +
                " AND action IN ('update', 'set_null', 'set_default', 'repoint')");
  }
  db_.end_change_capture();
  started_ = false;
  return effects;
}

namespace {

// A WITH entry cc_have (j, n): of the rows of table `s` (without a key)
// equal to an after-image of audit rows `ids`, how many there are of each.
std::string present_copies(const AuditedTable& s, const std::string& ids) {
  return "cc_have AS (SELECT " + s.row_json("cc_row") + " AS j, count(*) AS n FROM " + s.q + " AS cc_row WHERE " +
         s.row_json("cc_row") + " IN (SELECT after_row FROM " + std::string(kAudit) + " WHERE id IN (" + ids +
         ")) GROUP BY 1)";
}

// Deletes, from table `s` without a key, one row equal to the after-image
// of each audit row `ids` (n equal images: n of the equal rows), found in
// one pass over the table by the dialect's row address.
std::string delete_copies(const dialect::Dialect& d, const AuditedTable& s, const std::string& ids) {
  const std::string id(d.capabilities().row_id);
  return "DELETE FROM " + s.q + " WHERE " + id + " IN (SELECT cc_x.cc_id FROM (SELECT cc_row." + id + " AS cc_id, " +
         s.row_json("cc_row") + " AS j, row_number() OVER (PARTITION BY " + s.row_json("cc_row") + ") AS cc_rn FROM " +
         s.q + " AS cc_row WHERE " + s.row_json("cc_row") + " IN (SELECT after_row FROM " + kAudit + " WHERE id IN (" +
         ids + "))) AS cc_x JOIN (SELECT after_row, count(*) AS n FROM " + kAudit + " WHERE id IN (" + ids +
         ") GROUP BY after_row) AS cc_w ON cc_x.j = cc_w.after_row WHERE cc_x.cc_rn <= "
         "cc_w.n)";
}

}  // namespace

CapturedUndo check_captured(Connection& db, const std::string& run_id, bool force, std::int64_t& forced) {
  CapturedUndo out;
  const auto& d = db.dialect();
  const std::string run = d.quote_string(run_id);
  db.query(std::string("SELECT id, table_name, table_schema, action FROM ") + kAudit + " WHERE run_id = " + run +
               " AND action IN ('trigger_insert', 'trigger_update', 'trigger_delete') ORDER BY id DESC",
           [&](const Row& r) {
             out.items.push_back(CapturedUndo::Item{dialect::value_int(r[0]),
                                                    {dialect::value_text(r[1]), dialect::value_text(r[2])},
                                                    dialect::value_text(r[3]),
                                                    false});
           });
  std::map<std::string, AuditedTable> by_name;
  std::vector<std::string> changed;
  // Rows inserted into a table without a key: asked per table in one pass
  // (below), not one scan of the table per row.
  std::map<std::string, std::string> keyless_inserts;  // table -> audit ids
  for (auto& item : out.items) {
    auto it = by_name.find(item.table.str());
    if (it == by_name.end()) {
      it = by_name.emplace(item.table.str(), audited_table(db, item.table, Keyless::allowed)).first;
      out.tables.push_back(item.table);
    }
    const AuditedTable& s = it->second;
    if (s.key.empty() && item.action == "trigger_insert") {
      auto& ids = keyless_inserts[item.table.str()];
      ids += (ids.empty() ? "" : ", ") + std::to_string(item.id);
      continue;
    }
    const std::string a =
        "(SELECT * FROM " + std::string(kAudit) + " WHERE id = " + std::to_string(item.id) + ") AS cc_a";
    std::string sql;
    if (item.action == "trigger_delete") {
      if (s.key.empty()) continue;  // an equal row may well be there: put back one more
      sql = "SELECT CAST(cc_a.row_key AS TEXT) FROM " + a + " WHERE EXISTS (SELECT 1 FROM " + s.q +
            " AS cc_row WHERE " + s.key_match("cc_row", "cc_a") + ")";
    } else {
      const std::string same = s.row_json("cc_row") + " = cc_a.after_row";
      sql = "SELECT CAST(cc_a.row_key AS TEXT) FROM " + a + " WHERE NOT EXISTS (SELECT 1 FROM " + s.q +
            " AS cc_row WHERE " + (s.key.empty() ? same : s.key_match("cc_row", "cc_a") + " AND " + same) + ")";
    }
    db.query(sql, [&](const Row& r) {
      const std::string what = item.action == "trigger_insert"   ? "inserted by a trigger of the run"
                               : item.action == "trigger_update" ? "updated by a trigger of the run"
                                                                 : "deleted by a trigger of the run";
      changed.push_back("'" + item.table.str() + "' " +
                        (s.key.empty() ? std::string("row") : dialect::value_text(r[0])) + " (" + what +
                        ", changed since)");
      // Forced: a row a trigger deleted whose key is taken again, or one it
      // inserted that is no longer as it left it, stays as it is now.
      item.skip = item.action != "trigger_update";
    });
  }
  // Of n equal rows inserted, as many as are no longer there are "changed
  // since" (which of equal rows does not matter): those beyond the count
  // still present, by audit id.
  for (const auto& [table, ids] : keyless_inserts) {
    const AuditedTable& s = by_name.at(table);
    std::set<std::int64_t> gone;
    db.query("WITH " + present_copies(s, ids) + " SELECT cc_w.id FROM (SELECT id, after_row, row_number() OVER " +
                 "(PARTITION BY after_row ORDER BY id) AS cc_rn FROM " + kAudit + " WHERE id IN (" + ids +
                 ")) AS cc_w LEFT JOIN cc_have ON cc_have.j = cc_w.after_row WHERE cc_w.cc_rn > coalesce(cc_have.n, 0)",
             [&](const Row& r) { gone.insert(dialect::value_int(r[0])); });
    for (auto& item : out.items) {
      if (item.table.str() != table || item.action != "trigger_insert" || !gone.count(item.id)) continue;
      changed.push_back("'" + table + "' row (inserted by a trigger of the run, changed since)");
      item.skip = true;
    }
  }
  if (!changed.empty() && !force) {
    if (changed.size() > 5) changed.resize(5);
    throw Error(ExitCode::findings, "fix run '" + run_id +
                                        "': rows its triggers wrote changed again since the run, so undo would "
                                        "overwrite newer data; nothing was changed (--force undoes the rest "
                                        "anyway). Rows: " +
                                        join(changed, ", "));
  }
  forced += static_cast<std::int64_t>(changed.size());
  return out;
}

std::int64_t undo_captured(Connection& db, const std::string& run_id, const CapturedUndo& undo) {
  (void)run_id;
  const auto& d = db.dialect();
  std::map<std::string, AuditedTable> by_name;
  std::int64_t written = 0;
  for (size_t i = 0; i < undo.items.size(); ++i) {
    const auto& item = undo.items[i];
    if (item.skip) continue;
    auto it = by_name.find(item.table.str());
    if (it == by_name.end())
      it = by_name.emplace(item.table.str(), audited_table(db, item.table, Keyless::allowed)).first;
    const AuditedTable& s = it->second;
    const std::string id = std::to_string(item.id);
    const std::string one = std::string(kAudit) + " AS cc_a WHERE cc_a.id = " + id;
    if (item.action == "trigger_insert") {
      // The rows the triggers inserted into this table, newest first up to
      // the next item of another table or kind: deleted together, found by
      // their key (an index lookup each, not a scan of the table per row),
      // or without a key by their content in one pass over the table.
      std::string ids = id;
      for (size_t listed = 1; i + 1 < undo.items.size() && listed < 10000; ++listed) {
        const auto& next = undo.items[i + 1];
        if (!next.skip && (next.action != "trigger_insert" || next.table.str() != item.table.str())) break;
        ++i;
        if (!next.skip) ids += ", " + std::to_string(next.id);
      }
      if (s.key.empty()) {
        written += db.execute_count(delete_copies(d, s, ids));
        continue;
      }
      const std::string keys = s.key.size() == 1 ? s.key_list() : "(" + s.key_list() + ")";
      written += db.execute_count("DELETE FROM " + s.q + " WHERE " + keys + " IN (SELECT " + s.key_values("cc_a") +
                                  " FROM " + kAudit + " AS cc_a WHERE cc_a.id IN (" + ids + "))");
    } else if (item.action == "trigger_delete") {
      std::vector<std::string> cols, values;
      for (const auto& c : s.data) {
        if (std::find(s.key.begin(), s.key.end(), c) != s.key.end() && d.is_row_id(c)) continue;
        cols.push_back(d.quote_ident(c));
        values.push_back(d.json_get("cc_a.before_row", c, s.type_of(c)));
      }
      if (s.key.size() == 1 && d.is_row_id(s.key[0])) {
        cols.push_back(s.key[0]);
        values.push_back(d.json_get("cc_a.row_key", s.key[0], "INTEGER"));
      }
      written += db.execute_count("INSERT INTO " + s.q + " (" + join(cols, ", ") + ")" + d.insert_keeping_identity() +
                                  " SELECT " + join(values, ", ") + " FROM " + one);
    } else {
      std::vector<std::string> sets;
      for (const auto& c : s.data) {
        if (std::find(s.key.begin(), s.key.end(), c) != s.key.end()) continue;
        if (const auto* info = s.info.find_column(c); info && info->identity_always) continue;
        sets.push_back(d.quote_ident(c) + " = CASE WHEN " + d.json_member_same("cc_a.before_row", "cc_a.after_row", c) +
                       " THEN " + s.q + "." + d.quote_ident(c) + " ELSE " +
                       d.json_get("cc_a.before_row", c, s.type_of(c)) + " END");
      }
      if (sets.empty()) continue;
      written += db.execute_count("UPDATE " + s.q + " SET " + join(sets, ", ") + " FROM " + one + " AND " +
                                  s.key_match(s.q, "cc_a"));
    }
  }
  return written;
}

}  // namespace cc::scan
