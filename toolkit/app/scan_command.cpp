#include "app/scan_command.h"

#include <cstdio>
#include <iostream>

#include "scan/scan_report.h"
#include "scan/scanner.h"

namespace cc::app {

ExitCode run_scan_command(Context& ctx, const ScanCommandOptions& options) {
  const auto& schema = ctx.schema();  // validated before any connection
  auto db = ctx.connect(/*read_only=*/true);

  scan::ScanOptions scan_options;
  scan_options.tables = options.tables;
  const bool show_samples = ctx.options().json || ctx.options().verbose;
  scan_options.sample = options.sample >= 0 ? options.sample : (show_samples ? 5 : 0);
  const bool progress = ctx.show_progress();
  if (progress) {
    scan_options.progress = [](const std::string& table, size_t i, size_t n) {
      std::fprintf(stderr, "\r\033[Kscanning %s (%zu/%zu)", table.c_str(), i + 1, n);
      std::fflush(stderr);
    };
  }
  scan::ScanReport report = scan::run_scan(*db, schema, scan_options);
  if (progress) std::fprintf(stderr, "\r\033[K");
  report.database = ctx.target().display();

  if (ctx.options().json) {
    std::cout << scan::to_json(report).dump(2) << "\n";
  } else if (!ctx.options().quiet || report.total_violations() > 0) {
    std::cout << scan::render_text(report, scan::TextOptions{scan_options.sample > 0});
  }
  return report.total_violations() > 0 ? ExitCode::findings : ExitCode::ok;
}

}  // namespace cc::app
