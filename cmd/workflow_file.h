// The one way the CLI reads a workflow file (validate, plan, submit, run, slurm script).
#pragma once

#include <string>

#include "spec/plan.h"

namespace torc::cmd {

/// How the CLI expands the workflow file at `path`: the default limits, and `"@file"` parameter
/// values read from that file, a relative path taken from the workflow file's directory (not
/// the working directory, as Torc takes it), each file bounded as the workflow file is.
spec::LoadOptions WorkflowFileOptions(const std::string& path);

/// Reads the workflow file at `path` — a regular file of at most spec::kMaxWorkflowFileBytes,
/// checked as it is read, so `/dev/zero` or a FIFO cannot exhaust memory or hang — and expands
/// it (WorkflowFileOptions). A file that cannot be read is one error naming it. `*text`, when
/// given, receives the file's text (what `torc submit` sends, with the plan's parameter_files).
spec::LoadResult LoadWorkflowFile(const std::string& path, std::string* text = nullptr);

/// Prints the plan's warnings on stderr (spec::PlanWarnings; only those at a place in the file,
/// the keys torc does not act on, when `located_only`). With `strict` they are errors: then,
/// when there is one, it says so and returns false.
bool ReportWarnings(const spec::Plan& plan, bool strict, bool located_only = false);

/// Inputs checked before start (spec/inputs.h) against this machine's files, relative to the
/// current directory (the jobs' working directory): prints each missing one on stderr
/// ("FILE: job 'a' reads input file ...", at most 10) and returns false when there is one.
bool CheckInputsExist(const spec::Plan& plan, const std::string& file);

}  // namespace torc::cmd
