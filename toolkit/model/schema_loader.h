// Loads schema/*.toml into a model::Schema, validating everything before any
// database connection exists. Every problem found is reported, each as
// "file:line:column: message", in one cc::UsageError.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "model/schema.h"

namespace cc::model {

// Reads every *.toml file in `dir` (sorted by name). A directory with no
// files, or a missing directory, is an error.
Schema load_schema_dir(const std::filesystem::path& dir);

// Parses one file's text; `file` names it in messages. Used by the directory
// loader and by tests.
Schema parse_schema_text(std::string_view text, const std::string& file);

}  // namespace cc::model
