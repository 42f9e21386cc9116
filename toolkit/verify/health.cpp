#include "verify/health.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace cc::verify {
namespace {

struct Tally {
  size_t declared = 0, violated = 0;
  std::int64_t violations = 0;
  double verified = 0;
  size_t expected = 0;
};

double share(double good, size_t all, double if_none) { return all == 0 ? if_none : good / static_cast<double>(all); }

int score_of(double data, double enforcement, double migrations) {
  return static_cast<int>(std::lround(40 * data + 40 * enforcement + 20 * migrations));
}

}  // namespace

HealthReport compute_health(const scan::ScanReport& scan, const VerifyReport& verify, const migrate::Status& status,
                            size_t unsaved_changes) {
  HealthReport h;
  std::map<std::string, Tally> per_table;
  Tally all;
  for (const auto& c : scan.constraints) {
    auto& t = per_table[c.table];
    for (Tally* x : {&t, &all}) {
      ++x->declared;
      x->violations += c.violations;
      if (c.violations > 0) ++x->violated;
    }
  }
  for (const auto& f : verify.constraints) {
    if (f.status == "unexpected" && !f.expected_absent) {
      ++h.failures;  // drift outside the expected set
      continue;
    }
    // Counted by the migrations part (pending; an interrupted apply's version too).
    if (f.status == "not_applied" || (f.status == "in_progress" && !f.expected_absent)) continue;
    auto& t = per_table[f.table];
    // Proven enforced: 1. Removed by drop-checks or present but not probed
    // (skipped): half, neither is verified enforcement. A finding: 0.
    const double credit = f.status == "ok" ? 1.0 : (f.status == "dropped" || f.status == "skipped") ? 0.5 : 0.0;
    for (Tally* x : {&t, &all}) {
      ++x->expected;
      x->verified += credit;
    }
    if (is_failure(f.status)) ++h.failures;
    if (f.status == "dropped") h.notes.push_back(f.name + " was removed by drop-checks (counts half)");
    if (f.status == "skipped") h.notes.push_back(f.name + ": probe skipped, enforcement not proven (counts half): " + f.detail);
  }
  h.pending = status.pending();
  h.unsaved_changes = unsaved_changes;
  h.violations = all.violations;
  h.data = share(static_cast<double>(all.declared - all.violated), all.declared, 1);
  // Declared constraints that no migration has put in place enforce nothing.
  h.enforcement = share(all.verified, all.expected, all.declared == 0 ? 1 : 0);
  h.migrations = status.problems.empty()
                     ? std::max(0.0, 1.0 - 0.25 * static_cast<double>(h.pending) - (unsaved_changes > 0 ? 0.25 : 0.0))
                     : 0.0;
  h.score = score_of(h.data, h.enforcement, h.migrations);
  for (const auto& p : status.problems) h.notes.push_back(p);
  if (h.pending > 0) h.notes.push_back(std::to_string(h.pending) + " migration(s) pending");
  if (unsaved_changes > 0) h.notes.push_back("schema/ has changes no migration holds yet (run generate)");
  for (const auto& [name, t] : per_table) {
    TableHealth th;
    th.table = name;
    th.violations = t.violations;
    th.declared = t.declared;
    th.violated = t.violated;
    th.expected = t.expected;
    th.verified = static_cast<size_t>(t.verified);
    th.score = score_of(share(static_cast<double>(t.declared - t.violated), t.declared, 1),
                        share(t.verified, t.expected, t.declared == 0 ? 1 : 0), h.migrations);
    h.tables.push_back(th);
  }
  return h;
}

}  // namespace cc::verify
