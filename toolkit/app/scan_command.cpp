#include "app/scan_command.h"

#include <algorithm>

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>

#include "core/text.h"
#include "scan/fixer.h"
#include "scan/scan_report.h"
#include "scan/scanner.h"

#ifndef CONSTRAINTCTL_VERSION
#define CONSTRAINTCTL_VERSION "0.0.0"
#endif

namespace cc::app {
namespace {

using json = nlohmann::ordered_json;

std::map<std::string, model::RepairPolicy> parse_policies(const std::vector<std::string>& specs) {
  static const std::map<std::string, model::RepairPolicy> names = {
      {"report", model::RepairPolicy::report},     {"clamp", model::RepairPolicy::clamp},
      {"set", model::RepairPolicy::set_value},     {"set_expr", model::RepairPolicy::set_expr},
      {"set_null", model::RepairPolicy::set_null}, {"set_default", model::RepairPolicy::set_default},
      {"delete", model::RepairPolicy::delete_row}, {"delete_duplicates", model::RepairPolicy::delete_duplicates}};
  std::map<std::string, model::RepairPolicy> out;
  for (const auto& spec : specs) {
    const auto eq = spec.rfind('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("--policy '" + spec + "': expected CONSTRAINT=POLICY");
    auto it = names.find(spec.substr(eq + 1));
    if (it == names.end()) {
      std::string valid;
      for (const auto& [name, policy] : names) valid += (valid.empty() ? "" : ", ") + name;
      throw UsageError("--policy '" + spec + "': unknown policy '" + spec.substr(eq + 1) + "' (valid: " + valid + ")");
    }
    out[spec.substr(0, eq)] = it->second;
  }
  return out;
}

json sample_json(const scan::Sample& s) {
  json j;
  for (const auto& [k, v] : s.key) j["key"][k] = scan::json_value(v);
  for (const auto& [k, v] : s.values) j["values"][k] = scan::json_value(v);
  return j;
}

std::function<void(const std::string&, size_t, size_t)> progress_printer(const Context& ctx, const char* verb) {
  if (!ctx.show_progress()) return nullptr;
  return [verb](const std::string& table, size_t i, size_t n) {
    std::fprintf(stderr, "\r\033[K%s %s (%zu/%zu)", verb, table.c_str(), i + 1, n);
    std::fflush(stderr);
  };
}

void print_ci_format(const Context& ctx, const scan::ScanReport& report) {
  const auto outcomes = scan_outcomes(report);
  if (ctx.options().format == Format::junit) {
    std::cout << render_junit("scan", outcomes, report.elapsed_ms);
  } else {
    std::cout << render_github("scan", outcomes,
                               std::to_string(report.violated_constraints()) + " of " + std::to_string(report.constraints.size()) +
                                   " constraints violated by " + std::to_string(report.total_violations()) + " rows");
  }
}

ExitCode run_fix_command(Context& ctx, const ScanCommandOptions& options) {
  const auto& schema = ctx.schema();
  scan::FixOptions fo;
  fo.tables = options.tables;
  fo.dry_run = options.dry_run;
  fo.allow_cascade = options.allow_cascade;
  fo.skip_refused = options.skip_refused;
  fo.refuse_triggers = options.refuse_triggers;
  fo.allow_triggers = options.allow_triggers;
  fo.overrides = parse_policies(options.policies);
  fo.sample = options.sample >= 0 ? options.sample : 5;
  fo.tool_version = CONSTRAINTCTL_VERSION;
  fo.applied_by = applied_by();
  // A dry run writes too, inside one transaction that is always rolled
  // back: that needs no session, so it also works through a pooler.
  auto db = ctx.connect(/*read_only=*/false);
  if (!options.dry_run) db->require_session();
  scan::FixReport report = scan::run_fix(*db, schema, fo);
  report.after.database = ctx.target().display();
  const bool clean = report.after.total_violations() == 0;
  // A dry run exits as the real run would: by what the repairs leave.
  const ExitCode code = clean ? ExitCode::ok : ExitCode::findings;

  if (!ctx.options().json) {
    for (const auto& why : report.refused)
      std::cerr << "constraintctl: refused, the rest was repaired: " << text::terminal_safe(why) << "\n";
  }
  if (ctx.options().json) {
    json doc = scan::to_json(report.after);
    doc["command"] = options.dry_run ? "scan --fix --dry-run" : "scan --fix";
    if (!report.run_id.empty()) doc["run_id"] = report.run_id;
    doc["dry_run"] = options.dry_run;
    json fixes = json::array();
    for (const auto& a : report.actions) {
      json j{{"table", a.table},     {"name", a.name},       {"kind", a.kind},          {"policy", a.policy},
             {"changed", a.changed}, {"deleted", a.deleted}, {"repointed", a.repointed}};
      if (options.dry_run) {
        j["preview"] = json::array();
        for (const auto& s : a.preview) j["preview"].push_back(sample_json(s));
      }
      fixes.push_back(std::move(j));
    }
    doc["fixes"] = std::move(fixes);
    doc["cascaded"] = report.cascaded;
    json children = json::array();
    for (const auto& c : report.children)
      children.push_back({{"table", c.table}, {"action", c.action}, {"rows", c.rows}});
    doc["children"] = std::move(children);
    doc["triggers_fired"] = report.triggers;
    json effects = json::array();
    for (const auto& e : report.trigger_effects)
      effects.push_back({{"table", e.table}, {"inserted", e.inserted}, {"updated", e.updated}, {"deleted", e.deleted}});
    doc["trigger_effects"] = std::move(effects);
    doc["triggers_uncaptured"] = report.uncaptured;
    doc["refused"] = report.refused;
    const std::string command = doc["command"];
    print_json(with_envelope(ctx, command, code == ExitCode::ok, std::move(doc)));
  } else if (ctx.options().format == Format::github || ctx.options().format == Format::junit) {
    print_ci_format(ctx, report.after);
  } else if (ctx.options().quiet) {
    std::int64_t changed = 0, deleted = 0;
    for (const auto& a : report.actions) {
      changed += a.changed;
      deleted += a.deleted;
    }
    if (!report.run_id.empty()) {
      std::cout << "fixed: " << changed << " updates, " << deleted << " deletes, " << report.cascaded << " cascaded; run id "
                << report.run_id << "\n";
    }
    if (!options.dry_run) std::cout << scan::render_text(report.after, scan::TextOptions{false, true, ctx.color()});
  } else {
    if (report.actions.empty()) {
      std::cout << "Nothing to repair: no row breaks a constraint that has a repair policy.\n";
    } else {
      std::cout << (options.dry_run ? "Would repair (dry run, nothing changed):\n" : "Repaired:\n");
      // Widths over every action, so the columns line up across them.
      using A = text::Table::Align;
      text::Table widths({A::left, A::left, A::left, A::right, A::right});
      for (const auto& a : report.actions) {
        widths.add({a.table, a.name, a.policy, std::to_string(a.changed) + " updated", std::to_string(a.deleted) + " deleted"});
      }
      std::istringstream lines(widths.render());
      for (const auto& a : report.actions) {
        std::string line;
        std::getline(lines, line);
        std::cout << "  " << line << "\n";
        for (const auto& s : a.preview) {
          std::cout << "      ";
          // Values come from the database: never let one reach the terminal raw.
          for (const auto& [k, v] : s.key) std::cout << k << "=" << text::terminal_safe(dialect::value_text(v)) << " ";
          if (s.values.size() == 2) {
            std::cout << s.values[0].first << ": " << text::terminal_safe(dialect::value_text(s.values[0].second)) << " -> "
                      << text::terminal_safe(dialect::value_text(s.values[1].second));
          } else if (s.values.empty()) {
            std::cout << "deleted";
          }
          std::cout << "\n";
        }
      }
      if (report.cascaded > 0)
        std::cout << "  plus " << report.cascaded << " child rows deleted through ON DELETE CASCADE (audited)\n";
      for (const auto& c : report.children) {
        const std::string what = c.action == "cascade"    ? "deleted (ON DELETE CASCADE)"
                                 : c.action == "set_null" ? "set to NULL (ON DELETE SET NULL)"
                                                          : "set to their default (ON DELETE SET DEFAULT)";
        std::cout << "  plus " << c.rows << " children " << what << " in " << text::terminal_safe(c.table)
                  << " (audited)\n";
      }
      if (!report.triggers.empty()) {
        std::string names;
        for (const auto& t : report.triggers) names += (names.empty() ? "" : ", ") + t;
        std::cout << "  triggers fired: " << text::terminal_safe(names) << "\n";
        for (const auto& e : report.trigger_effects) {
          std::cout << "  plus, by triggers, in " << text::terminal_safe(e.table) << ": " << e.inserted
                    << " rows inserted, " << e.updated << " updated, " << e.deleted << " deleted (audited)\n";
        }
        for (const auto& u : report.uncaptured)
          std::cout << "  NOT audited (--allow-triggers): " << text::terminal_safe(u) << "\n";
      }
      std::int64_t repointed = 0;
      for (const auto& a : report.actions) repointed += a.repointed;
      if (repointed > 0) std::cout << "  plus " << repointed << " referencing rows moved to the kept row (references = \"repoint\", audited)\n";
      if (!report.run_id.empty()) {
        std::cout << "\nrun id " << report.run_id << ": every changed or deleted row's before-image is in constraintctl_audit.\n"
                  << "Undo with: constraintctl fix-undo " << report.run_id << "\n";
      }
    }
    if (options.dry_run && !report.actions.empty()) {
      std::cout << "\nAfter the fix (predicted by running it and rolling it back):\n";
      std::cout << scan::render_text(report.after, scan::TextOptions{!clean, false, ctx.color()});
    } else if (!options.dry_run) {
      std::cout << "\nAfter the fix:\n";
      std::cout << scan::render_text(report.after, scan::TextOptions{!clean, false, ctx.color()});
    }
  }
  return code;
}

}  // namespace

std::vector<Outcome> scan_outcomes(const scan::ScanReport& report) {
  std::vector<Outcome> out;
  for (const auto& c : report.constraints) {
    Outcome o;
    o.group = c.table;
    o.name = c.name;
    o.failed = c.violations > 0;
    o.where = c.where;
    if (c.kind == "unique") {
      o.message = std::to_string(c.violations) + " surplus row(s) in " + std::to_string(c.groups) + " duplicated key(s) of " +
                  c.name + " (" + c.definition + ")";
    } else {
      o.message = std::to_string(c.violations) + " row(s) of " + c.table + " violate " + c.name + " (" + c.definition + ")";
    }
    if (o.failed) o.detail = o.message + "; repair policy " + std::string(model::to_string(c.policy)) + "; declared at " + c.where.str();
    out.push_back(std::move(o));
  }
  return out;
}

std::string applied_by() {
  const char* user = std::getenv("USER");
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(user && *user ? user : "unknown") + "@" + host;
}

ExitCode run_scan_command(Context& ctx, const ScanCommandOptions& options) {
  if (options.dry_run && !options.fix) throw UsageError("--dry-run goes with --fix");
  if (options.fix) return run_fix_command(ctx, options);
  if (options.allow_cascade || options.refuse_triggers || options.allow_triggers || !options.policies.empty())
    throw UsageError("--allow-cascade, --refuse-triggers, --allow-triggers and --policy go with --fix");
  const auto& schema = ctx.schema();  // validated before any connection
  auto db = ctx.connect(/*read_only=*/true);

  scan::ScanOptions scan_options;
  scan_options.tables = options.tables;
  const bool show_samples = ctx.options().json || ctx.options().verbose;
  scan_options.sample = options.sample >= 0 ? options.sample : (show_samples ? 5 : 0);
  scan_options.progress = progress_printer(ctx, "scanning");
  scan_options.foreign_keys = true;
  scan_options.jobs = std::max(options.jobs, 0);
  scan_options.open = [&ctx](bool read_only) { return ctx.connect(read_only); };
  scan::ScanReport report = scan::run_scan(*db, schema, scan_options);
  if (scan_options.progress) std::fprintf(stderr, "\r\033[K");
  report.database = ctx.target().display();

  if (ctx.options().json) {
    print_json(with_envelope(ctx, "scan", report.total_violations() == 0, scan::to_json(report)));
  } else if (ctx.options().format == Format::github || ctx.options().format == Format::junit) {
    print_ci_format(ctx, report);
  } else {
    std::cout << scan::render_text(report, scan::TextOptions{scan_options.sample > 0, ctx.options().quiet, ctx.color()});
  }
  return report.total_violations() > 0 ? ExitCode::findings : ExitCode::ok;
}

ExitCode run_fix_undo(Context& ctx, const std::string& run_id, bool force) {
  auto db = ctx.connect(false);
  db->require_session();
  scan::UndoReport r = scan::undo_fix(*db, run_id, applied_by(), force);
  if (ctx.options().json) {
    print_json(with_envelope(ctx, "fix-undo", true,
                             json{{"command", "fix-undo"},
                                  {"run_id", r.run_id},
                                  {"restored", r.restored},
                                  {"reinserted", r.reinserted},
                                  {"forced", r.forced},
                                  {"trigger_rows", r.triggered}}));
  } else if (!ctx.options().quiet) {
    std::cout << "undid fix run " << r.run_id << ": " << r.restored << " rows restored, " << r.reinserted
              << " rows re-inserted";
    if (r.triggered > 0) std::cout << ", " << r.triggered << " rows the run's triggers wrote put back";
    if (r.forced > 0) std::cout << " (--force: " << r.forced << " rows had changed since the run)";
    std::cout << "\n";
  }
  return ExitCode::ok;
}

}  // namespace cc::app
