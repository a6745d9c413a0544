// Input files checked before a workflow starts: a job's declared input that does not exist
// and that no job of the workflow produces can never appear, so the job could only fail (or,
// with files as dependencies, wait for ever). The check is the caller's to make (the CLI, with
// the file system); this is the rule, with the file system behind a seam.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "spec/plan.h"

namespace torc::spec {

/// One input nothing provides: the file entry and the first job that reads it.
struct MissingInput {
  Index file = kNone;  // into Plan::files
  Index job = kNone;   // into Plan::jobs: the first job listing it in input_files
  size_t readers = 0;  // how many jobs list it as input
};

/// The files some job lists in `input_files` that no job lists in `output_files` and for which
/// `exists(path)` (the path as the file says, relative to the jobs' working directory) is
/// false, in the order of Plan::files.
std::vector<MissingInput> MissingInputs(const Plan& plan,
                                        const std::function<bool(const std::string&)>& exists);

/// "job 'a' reads input file 'f' (data/in.txt), which does not exist and which no job of the
/// workflow produces" (+ " (and N more jobs)" when others read it too).
std::string Describe(const Plan& plan, const MissingInput& missing);

}  // namespace torc::spec
