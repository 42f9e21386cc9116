#include "dialect/plan.h"

#include "dialect/dialect.h"

namespace cc::dialect {
namespace {

// Every line of `text` as a "-- " comment line.
void comment(std::string& out, const std::string& text) {
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    out += "-- " + text.substr(pos, end - pos) + "\n";
    pos = end + 1;
  }
}

}  // namespace

Unit alone(Step step) {
  Unit u;
  u.kind = Unit::Kind::alone;
  u.steps.push_back(std::move(step));
  return u;
}

bool Plan::empty() const { return statement_count() == 0; }

size_t Plan::statement_count() const {
  size_t n = 0;
  for (const auto& u : units) n += u.steps.size();
  return n;
}

std::string render_script(const Plan& plan, const Dialect& dialect) {
  std::string out;
  if (!plan.title.empty()) comment(out, plan.title);
  for (const auto& n : plan.notes) comment(out, n);
  for (const auto& d : plan.already_done) comment(out, "already done (found in the catalog): " + d);
  for (const auto& a : plan.adopted) comment(out, "adopted (already in the database as declared; no DDL): " + a);
  for (const auto& k : plan.kept) comment(out, "kept: " + k);
  for (const auto& w : plan.warnings) comment(out, "warning: " + w);
  for (const auto& u : plan.units) {
    if (!u.comment.empty()) comment(out, u.comment);
    if (!u.notice.empty()) comment(out, u.notice);
    if (u.repair_first) {
      comment(out,
              "apply --fix: the repairs of scan --fix run here, in their own audited transaction, every write checked "
              "by the NOT VALID constraints above (preview them: constraintctl scan --fix --dry-run); if they are "
              "refused, constraintctl takes the steps above back:");
      for (const auto& sql : u.repair_undo) comment(out, "  " + sql + ";");
    }
    const bool tx = u.kind == Unit::Kind::transaction;
    if (tx) out += dialect.begin_write() + ";\n";
    for (const auto& set : u.session_set) out += set + ";\n";
    // Statements start at column 0, as they are run (scripts grep them).
    for (const auto& s : u.steps) {
      if (!s.comment.empty()) comment(out, s.comment);
      if (s.must_return_no_rows) comment(out, "must return no rows (constraintctl rolls back if it does):");
      out += s.sql + ";\n";
    }
    for (const auto& reset : u.session_reset) out += reset + ";\n";
    if (tx) out += "COMMIT;\n";
  }
  return out;
}

}  // namespace cc::dialect
