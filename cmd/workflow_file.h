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

/// Prints the plan's warnings on stderr (spec::PlanWarnings; only those at a place in the file,
/// the keys torc does not act on, when `located_only`). With `strict` they are errors: then,
/// when there is one, it says so and returns false.
bool ReportWarnings(const spec::Plan& plan, bool strict, bool located_only = false);

}  // namespace torc::cmd
