#include "app/inspect_command.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/migrate_commands.h"
#include "app/output.h"
#include "core/text.h"
#include "dialect/migrator.h"
#include "migrate/inspect.h"
#include "model/schema_loader.h"

namespace cc::app {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw UsageError("cannot write " + path.string());
}

}  // namespace

ExitCode run_inspect(Context& ctx, const InspectOptions& options) {
  const auto migrations = migrate::load_migrations(ctx.config().migrations_dir);
  auto db = ctx.connect(options.dry_run);
  auto migrator = dialect::make_migrator(*db, migrator_options(ctx, 10000));
  const auto tables = migrate::inspect(*db, *migrator, options.tables, ctx.target().display());
  const fs::path schema_dir = ctx.config().schema_dir;

  // Every refusal before anything is written.
  std::vector<const migrate::InspectedTable*> files;
  for (const auto& t : tables) {
    if (!t.found.empty()) files.push_back(&t);
  }
  if (!options.dry_run) {
    std::string exists;
    for (const auto* t : files) {
      const fs::path path = (schema_dir / t->file_name).lexically_normal();
      if (fs::exists(path) && !options.force) exists += (exists.empty() ? "" : ", ") + path.string();
    }
    if (!exists.empty()) {
      throw UsageError(
          exists + " already exist(s); inspect never overwrites a schema file without --force; nothing was written");
    }
    // A table declared in another file would be declared twice. The files
    // about to be overwritten (--force) are not read: they may be anything.
    std::error_code ec;
    for (fs::directory_iterator it(schema_dir, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::path other = it->path().lexically_normal();
      if (other.extension() != ".toml") continue;
      const bool overwritten = std::any_of(files.begin(), files.end(), [&](const auto* t) {
        return (schema_dir / t->file_name).lexically_normal() == other;
      });
      if (overwritten) continue;
      std::ifstream in(other, std::ios::binary);
      const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const model::Schema declared = model::parse_schema_text(text, other.string());
      for (const auto* t : files) {
        if (declared.find_table(t->table)) {
          throw UsageError("table '" + t->table + "' is already declared in " + other.string() +
                           "; inspect would write it to " + (schema_dir / t->file_name).lexically_normal().string() +
                           " as well; nothing was written");
        }
      }
    }
  }
  migrate::Migration baseline;
  baseline.operations = migrate::baseline_operations(tables, migrate::replay(migrations));
  baseline.version = static_cast<int>(migrations.size()) + 1;
  baseline.name = "baseline";
  const fs::path baseline_path = (ctx.config().migrations_dir / (baseline.id() + ".toml")).lexically_normal();
  const std::string baseline_text = migrate::render_migration(
      baseline, "inspect",
      "The baseline: constraints that existed before constraintctl. `apply` finds each one in the\n"
      "catalog as declared and adopts it (no DDL); rollback never drops an adopted constraint.");
  if (!options.dry_run && !baseline.operations.empty() && fs::exists(baseline_path)) {
    throw UsageError(baseline_path.string() + " already exists; nothing was written");
  }

  std::size_t recorded = 0;
  std::string not_recorded;
  if (!options.dry_run) {
    fs::create_directories(schema_dir);
    for (const auto* t : files) write_file(schema_dir / t->file_name, t->toml);
    if (!baseline.operations.empty()) {
      fs::create_directories(ctx.config().migrations_dir);
      write_file(baseline_path, baseline_text);
    }
    // The baseline, recorded at once: what was found is adopted, so rollback
    // and drop-checks leave it alone even before the baseline is applied.
    try {
      dialect::Transaction tx(*db);
      dialect::detail::create_bookkeeping(*db);
      for (const auto* t : files) {
        for (const auto& f : t->found) {
          // What migrations/ already builds is constraintctl's own (or was
          // adopted before): only the baseline's constraints are new adoptions.
          const bool in_baseline = std::any_of(baseline.operations.begin(), baseline.operations.end(),
                                               [&](const migrate::Operation& op) { return op.def.name == f.def.name; });
          if (!in_baseline) continue;
          db->execute(dialect::detail::adopt_record(db->dialect(), f.def, f.existing));
          ++recorded;
        }
      }
      tx.commit();
    } catch (const DatabaseError& e) {
      if (e.kind() != DbErrorKind::read_only && e.kind() != DbErrorKind::permission_denied) throw;
      recorded = 0;
      not_recorded = std::string("could not record the adopted constraints (") + e.what() +
                     "); `constraintctl apply` records them when it applies the baseline";
    }
  }

  if (ctx.options().json) {
    json list = json::array();
    for (const auto& t : tables) {
      json constraints = json::array();
      for (const auto& f : t.found) {
        constraints.push_back(json{{"name", f.def.name},
                                   {"kind", f.def.unique ? "unique" : "check"},
                                   {"declared", f.def.describe()},
                                   {"database", f.existing.definition},
                                   {"generated_name", f.generated_name},
                                   {"structured", f.structured}});
      }
      json entry{
          {"table", t.table},
          {"file", t.found.empty() ? json(nullptr) : json((schema_dir / t.file_name).lexically_normal().string())},
          {"constraints", std::move(constraints)},
          {"skipped", t.skipped}};
      if (options.dry_run && !t.found.empty()) entry["toml"] = t.toml;
      list.push_back(std::move(entry));
    }
    json doc{{"dry_run", options.dry_run}, {"tables", std::move(list)}};
    doc["baseline"] = baseline.operations.empty()
                          ? json(nullptr)
                          : json{{"file", baseline_path.string()}, {"operations", baseline.operations.size()}};
    if (options.dry_run && !baseline.operations.empty()) doc["baseline"]["toml"] = baseline_text;
    doc["adopted_recorded"] = recorded;
    if (!not_recorded.empty()) doc["warnings"] = json::array({not_recorded});
    print_json(with_envelope(ctx, "inspect", true, std::move(doc)));
    return ExitCode::ok;
  }
  if (!not_recorded.empty()) std::cerr << "constraintctl: warning: " << not_recorded << "\n";
  if (options.dry_run) {
    // Only TOML on stdout: each file behind a comment naming it.
    for (const auto* t : files)
      std::cout << "# ---- " << (schema_dir / t->file_name).lexically_normal().string() << "\n" << t->toml << "\n";
    if (!baseline.operations.empty()) std::cout << "# ---- " << baseline_path.string() << "\n" << baseline_text;
    for (const auto& t : tables) {
      if (t.found.empty())
        std::cerr << "constraintctl: " << text::terminal_safe(t.table)
                  << ": no CHECK or UNIQUE constraint to declare\n";
      for (const auto& s : t.skipped)
        std::cerr << "constraintctl: " << text::terminal_safe(t.table) << ": not declared: " << text::terminal_safe(s)
                  << "\n";
    }
    return ExitCode::ok;
  }
  for (const auto& t : tables) {
    if (t.found.empty()) {
      if (!ctx.options().quiet)
        std::cout << "skipped " << text::terminal_safe(t.table) << ": no CHECK or UNIQUE constraint to declare\n";
    } else if (!ctx.options().quiet) {
      std::string names;
      for (const auto& f : t.found) names += (names.empty() ? "" : ", ") + f.def.name;
      std::cout << "wrote " << (schema_dir / t.file_name).lexically_normal().string() << ": " << t.found.size()
                << " constraint(s) (" << text::terminal_safe(names) << ")\n";
    }
    for (const auto& s : t.skipped)
      std::cerr << "constraintctl: " << text::terminal_safe(t.table) << ": not declared: " << text::terminal_safe(s)
                << "\n";
  }
  if (!ctx.options().quiet) {
    if (!baseline.operations.empty()) {
      std::cout << "wrote " << baseline_path.string() << ": the baseline, " << baseline.operations.size()
                << " constraint(s) that already exist; `constraintctl apply` adopts them without DDL\n";
    }
    if (recorded > 0)
      std::cout << "recorded " << recorded << " constraint(s) as adopted in " << dialect::kAdoptedTable << "\n";
  }
  return ExitCode::ok;
}

}  // namespace cc::app
