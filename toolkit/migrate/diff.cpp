#include "migrate/diff.h"

#include <algorithm>

#include "dialect/dialect.h"
#include "scan/scan_sql.h"

namespace cc::migrate {

State declared_state(const model::Schema& schema) {
  State state;
  for (const auto& t : schema.tables) {
    for (const auto& c : t.checks) {
      ConstraintDef d;
      d.table = t.name;
      d.name = c.name;
      d.check = scan::check_predicate(c, dialect::sqlite_dialect());
      state[d.name] = d;
    }
    for (const auto& u : t.uniques) {
      ConstraintDef d;
      d.table = t.name;
      d.name = u.name;
      d.unique = true;
      d.columns = u.columns;
      d.where = u.where_expr;
      state[d.name] = d;
    }
  }
  return state;
}

std::vector<Operation> diff(const State& from, const State& to, const model::Schema& order) {
  std::vector<Operation> out;
  for (auto it = from.rbegin(); it != from.rend(); ++it) {
    auto target = to.find(it->first);
    if (target == to.end() || !target->second.same_definition(it->second)) {
      out.push_back(Operation{it->second.unique ? OpKind::drop_unique : OpKind::drop_check, it->second});
    }
  }
  // Adds follow the schema's own order, so generated files read like schema/.
  auto add = [&](const std::string& name) {
    const auto& def = to.at(name);
    auto existing = from.find(name);
    if (existing == from.end() || !existing->second.same_definition(def)) {
      out.push_back(Operation{def.unique ? OpKind::add_unique : OpKind::add_check, def});
    }
  };
  for (const auto& t : order.tables) {
    for (const auto& c : t.checks) add(c.name);
    for (const auto& u : t.uniques) add(u.name);
  }
  return out;
}

}  // namespace cc::migrate
