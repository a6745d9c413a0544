// Where a job's output goes: one naming that the worker writes, the server reads back
// (`torc logs`, the dashboard) and the CLI shows (`torc jobs show`). Nothing else builds these
// paths.
#pragma once

#include <cstdint>
#include <string>

#include "spec/plan.h"

namespace torc::protocol {

/// `torc worker run --output-dir`'s default, relative to the worker's directory.
inline constexpr const char* kDefaultOutputRoot = "torc_output";

/// A workflow's job-output directory under an output root: <root>/<workflow id>.
std::string JobOutputDir(const std::string& output_root, int64_t workflow_id);

/// The directory a worker started in `working_dir` with the default root uses:
/// <working_dir>/torc_output/<workflow id> ("." when working_dir is empty). For attempts whose
/// worker did not report its own (`output_dir` at registration).
std::string DefaultJobOutputDir(const std::string& working_dir, int64_t workflow_id);

/// An attempt's files: <dir>/<job>.<attempt>.out and .err; "" means not kept (/dev/null);
/// kCombined sends both streams to the .out file. `recovery_log` is where the failure handler's
/// recovery script writes.
struct AttemptOutputs {
  std::string out, err, recovery_log;
};
AttemptOutputs AttemptOutputPaths(const std::string& dir, const std::string& job,
                                  uint32_t attempt, spec::StdioMode mode);

}  // namespace torc::protocol
