#include "server/protocol/output_paths.h"

namespace torc::protocol {

std::string JobOutputDir(const std::string& output_root, int64_t workflow_id) {
  return output_root + "/" + std::to_string(workflow_id);
}

std::string DefaultJobOutputDir(const std::string& working_dir, int64_t workflow_id) {
  const std::string base = working_dir.empty() ? "." : working_dir;
  return JobOutputDir(base + "/" + kDefaultOutputRoot, workflow_id);
}

AttemptOutputs AttemptOutputPaths(const std::string& dir, const std::string& job,
                                  uint32_t attempt, spec::StdioMode mode) {
  const std::string base = dir + "/" + job + "." + std::to_string(attempt);
  AttemptOutputs o{base + ".out", base + ".err", base + ".recovery.log"};
  switch (mode) {
    case spec::StdioMode::kNone: o.out = o.err = ""; break;
    case spec::StdioMode::kCombined: o.err = o.out; break;
    case spec::StdioMode::kNoStdout: o.out = ""; break;
    case spec::StdioMode::kNoStderr: o.err = ""; break;
    case spec::StdioMode::kSeparate: break;
  }
  return o;
}

}  // namespace torc::protocol
