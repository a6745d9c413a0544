// The one-line progress summary of a workflow, shared by `torc watch`,
// `torc status` and `torc run`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace torc::cmd {

/// "[#########...........] 12/40 done  4 running  8 ready  15 blocked  1 failed":
/// a bar of `bar_width` characters (none when 0), then every non-zero count
/// (claimed counts as running), coloured by state when `color`.
std::string ProgressText(const nlohmann::json& counts, int64_t total, int bar_width, bool color);

}  // namespace torc::cmd
