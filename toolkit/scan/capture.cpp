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
  // Whether a captured change is of a row the fix audited itself (its own
  // writes, or a trigger's on those rows) is asked of the database, by key:
  // such changes, one per repaired row of a table whose trigger fires on
  // it, never come to the client, whose memory stays flat however many rows
  // a run repairs. cc_ao / cc_an: the old / new key is one the fix audited.
  // cc_mine: the keys the fix audited, in a temp table of its own with an
  // index, so that both lookups of a change are by key on either database.
  std::vector<std::string> captured;
  for (const auto& t : tables_) captured.push_back(d.quote_string(t.name));
  const std::string mine = d.temp_table("cc_mine");
  db_.execute("DROP TABLE IF EXISTS " + mine);
  db_.execute(std::string("CREATE TEMP TABLE cc_mine AS SELECT DISTINCT table_name AS cc_t, table_schema AS cc_s, "
                          "CAST(row_key AS TEXT) AS cc_k FROM ") +
              kAudit + " WHERE run_id = " + run + " AND table_name IN (" + join(captured, ", ") + ")");
  db_.execute(d.lookup_index("cc_mine_key", "cc_mine", "cc_k"));  // just created: the temp one
  // Their sizes known to the planner (PostgreSQL never analyzes a temp
  // table by itself): without them it joins the two by nested loops.
  db_.execute("ANALYZE " + mine);
  db_.execute("ANALYZE " + d.temp_table("cc_capture"));
  const std::string flagged =
      "WITH cc_c AS (SELECT seq, table_name, table_schema, op, CAST(old_key AS TEXT) AS cc_ok, CAST(new_key AS TEXT) "
      "AS cc_nk FROM cc_capture), cc_f AS (SELECT cc_c.seq, cc_c.table_name, cc_c.table_schema, cc_c.op, cc_c.cc_ok, "
      "cc_c.cc_nk, CASE WHEN cc_mo.cc_k IS NULL THEN 0 ELSE 1 END AS cc_ao, CASE WHEN cc_mn.cc_k IS NULL THEN 0 ELSE "
      "1 END AS cc_an FROM cc_c LEFT JOIN " +
      mine +
      " AS cc_mo ON cc_mo.cc_k = cc_c.cc_ok AND cc_mo.cc_t = cc_c.table_name AND cc_mo.cc_s = cc_c.table_schema "
      "LEFT JOIN " +
      mine +
      " AS cc_mn ON cc_mn.cc_k = cc_c.cc_nk AND cc_mn.cc_t = cc_c.table_name AND cc_mn.cc_s = "
      "cc_c.table_schema) ";
  // Tables with rows the fix audited that a trigger changed too.
  std::set<std::string> refresh;
  db_.query(flagged + "SELECT DISTINCT table_name, table_schema FROM cc_f WHERE cc_ao = 1 OR cc_an = 1",
            [&](const Row& r) {
              refresh.insert(model::TableName{dialect::value_text(r[0]), dialect::value_text(r[1])}.str());
            });
  // Tables in which a trigger changed a row the fix did not audit.
  db_.query(flagged +
                "SELECT DISTINCT table_name FROM cc_f WHERE (cc_ok IS NOT NULL AND cc_ao = 0) OR (cc_nk IS NOT "
                "NULL AND cc_an = 0)",
            [&](const Row& r) { changed_.insert(dialect::value_text(r[0])); });
  std::map<std::string, AuditedTable> by_name;
  auto table_of = [&](const model::TableName& t) -> const AuditedTable& {
    auto it = by_name.find(t.str());
    if (it == by_name.end()) it = by_name.emplace(t.str(), audited_table(db_, t, Keyless::allowed)).first;
    return it->second;
  };
  std::vector<std::string> keyless;
  for (const auto& t : tables_) {
    if (table_of(t).key.empty())
      keyless.push_back("(table_name = " + d.quote_string(t.name) + " AND table_schema = " + d.quote_string(t.schema) +
                        ")");
  }
  const std::string no_key = keyless.empty() ? "1 = 0" : "(" + join(keyless, " OR ") + ")";
  // The changes of rows the fix did not audit, written into the audit in
  // one statement, in the order undo walks backwards: rows without a key
  // change by change (a delete of the old row, an insert of the new one),
  // then each keyed row once, in the order it was first touched, from its
  // image before its first change to its image after its last (a row whose
  // key changed is the old key's delete and the new key's insert).
  std::int64_t last_id = 0;
  db_.query(std::string("SELECT max(id) FROM ") + kAudit, [&](const Row& r) {
    if (!std::holds_alternative<std::monostate>(r[0])) last_id = dialect::value_int(r[0]);
  });
  const std::string update = "op NOT IN ('insert', 'delete')";
  const std::string touch = " table_name, table_schema, seq FROM cc_u WHERE NOT " + no_key + " AND ";
  std::string sql =
      flagged.substr(0, flagged.size() - 1) +
      ", cc_u AS NOT MATERIALIZED (SELECT cc_f.* FROM cc_f WHERE cc_ao = 0 AND cc_an = 0), cc_touch AS ("
      "SELECT cc_nk AS cc_k, 0 AS cc_b, 1 AS cc_a, 1 AS cc_side," +
      touch +
      "op = 'insert' "
      "UNION ALL SELECT cc_ok, 1, 0, 0," +
      touch +
      "op = 'delete' "
      "UNION ALL SELECT cc_ok, 1, 1, 0," +
      touch + update +
      " AND cc_ok = cc_nk "
      "UNION ALL SELECT cc_ok, 1, 0, 0," +
      touch + update +
      " AND cc_ok <> cc_nk "
      "UNION ALL SELECT cc_nk, 0, 1, 1," +
      touch + update +
      " AND cc_ok <> cc_nk), "
      // Per row, of its touches the first one's (cc_b, cc_side) and the
      // last one's cc_a, read off the lowest / highest of seq * 4 + ...
      // (one row's touches have distinct seq): one grouping, no sort per
      // window, so the database's memory for it stays small.
      "cc_life AS (SELECT table_name, table_schema, min(seq) AS cc_fs, max(seq) AS cc_ls, min(seq * 4 + "
      "cc_b * 2 + cc_side) % 2 AS cc_fo, min(seq * 4 + cc_b * 2 + cc_side) % 4 / 2 AS cc_existed, "
      "max(seq * 2 + cc_a) % 2 AS cc_still FROM cc_touch GROUP BY table_name, table_schema, cc_k), "
      // What to write, by the seq of the change holding each image:
      // cc_bs its before-image, cc_as its after-image.
      "cc_e AS (SELECT 0 AS cc_g, seq AS cc_o1, 0 AS cc_o2, table_name, table_schema, 'trigger_delete' "
      "AS cc_action, seq AS cc_bs, NULL AS cc_as FROM cc_u WHERE " +
      no_key +
      " AND op <> 'insert' "
      "UNION ALL SELECT 0, seq, 1, table_name, table_schema, 'trigger_insert', NULL, seq FROM cc_u WHERE " +
      no_key +
      " AND op <> 'delete' "
      "UNION ALL SELECT 1, cc_fs, cc_fo, table_name, table_schema, CASE WHEN cc_existed = 0 THEN "
      "'trigger_insert' WHEN cc_still = 0 THEN 'trigger_delete' ELSE 'trigger_update' END, CASE WHEN "
      "cc_existed = 1 THEN cc_fs END, CASE WHEN cc_still = 1 THEN cc_ls END FROM cc_life WHERE "
      "cc_existed = 1 OR cc_still = 1) "
      "SELECT * FROM cc_e";
  // First the list (keys and positions only, no images), then the audit
  // rows in its order, each image read by seq: neither statement sorts or
  // holds the images, which would take memory growing with the run.
  const std::string emit = d.temp_table("cc_emit");
  db_.execute("DROP TABLE IF EXISTS " + emit);
  db_.execute("CREATE TEMP TABLE cc_emit AS " + sql);
  db_.execute("CREATE INDEX cc_emit_order ON cc_emit (cc_g, cc_o1, cc_o2)");  // just created: the temp one
  sql = std::string("INSERT INTO ") + kAudit +
        " (run_id, table_name, table_schema, action, row_key, before_row, after_row) SELECT " + run +
        ", cc_e.table_name, cc_e.table_schema, cc_e.cc_action, CASE WHEN cc_e.cc_action = 'trigger_insert' THEN "
        "cc_a.new_key ELSE cc_b.old_key END, CASE WHEN cc_e.cc_action = 'trigger_insert' THEN cc_a.new_row ELSE "
        "cc_b.old_row END, CASE WHEN cc_e.cc_action = 'trigger_delete' THEN NULL ELSE cc_a.new_row END FROM " +
        emit +
        " AS cc_e LEFT JOIN cc_capture AS cc_b ON cc_b.seq = cc_e.cc_bs LEFT JOIN cc_capture AS cc_a ON "
        "cc_a.seq = cc_e.cc_as WHERE NOT (cc_e.cc_action = 'trigger_update' AND cc_b.old_row = cc_a.new_row) ORDER "
        "BY cc_e.cc_g, cc_e.cc_o1, cc_e.cc_o2";
  db_.execute(sql);
  // What each table's triggers did, in the order the audit holds it.
  std::map<std::string, size_t> effect_of;
  db_.query(std::string("SELECT table_name, table_schema, action, count(*) FROM ") + kAudit + " WHERE run_id = " + run +
                " AND id > " + std::to_string(last_id) + " GROUP BY table_name, table_schema, action ORDER BY min(id)",
            [&](const Row& r) {
              const std::string table = model::TableName{dialect::value_text(r[0]), dialect::value_text(r[1])}.str();
              const std::string action = dialect::value_text(r[2]);
              const std::int64_t n = dialect::value_int(r[3]);
              audited += n;
              auto it = effect_of.find(table);
              if (it == effect_of.end()) {
                it = effect_of.emplace(table, effects.size()).first;
                effects.push_back(TriggerEffect{table, 0, 0, 0});
              }
              auto& fx = effects[it->second];
              (action == "trigger_insert" ? fx.inserted : action == "trigger_update" ? fx.updated : fx.deleted) += n;
            });
  db_.execute("DROP TABLE " + mine);
  db_.execute("DROP TABLE " + emit);
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
