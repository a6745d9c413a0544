// The one way the CLI reads a workflow file (validate, plan, submit, run, slurm script).
#pragma once

#include <string>

#include "spec/plan.h"

namespace torc::cmd {

/// Reads the workflow file at `path` — a regular file of at most spec::kMaxWorkflowFileBytes,
/// checked as it is read, so `/dev/zero` or a FIFO cannot exhaust memory or hang — and expands
/// it. A file that cannot be read is one error naming it. `*text`, when given, receives the
/// file's text (what `torc submit` sends).
spec::LoadResult LoadWorkflowFile(const std::string& path, std::string* text = nullptr);

}  // namespace torc::cmd
