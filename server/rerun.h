// The update rule of `torc run` again and `torc submit --update` (docs/rerun.md): which jobs of
// a stored workflow are out of date once its file is read again. A pure function of the old
// plan, the new plan, the input stamps recorded then and now, the outputs missing now and the
// jobs' states; the service applies what it decides.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/model/model.h"
#include "spec/plan.h"

namespace torc::server {

/// What the file system says of a file: its size and its modification time in nanoseconds,
/// and, when the client was asked for it (`--hash`), a hash of its content.
struct FileStamp {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  std::string hash;  // "" when not computed
  bool operator==(const FileStamp&) const = default;
};

/// Whether a file changed between two stamps: by size and content when both have a hash (a
/// `touch` or a copy of the same bytes is no change), else by size and modification time.
bool StampChanged(const FileStamp& before, const FileStamp& now);

/// Stamps by path, the path as the workflow file writes it (relative to the working dir).
using FileStamps = std::map<std::string, FileStamp>;

/// Reads {"path": [size, mtime_ns] or [size, mtime_ns, "hash"], ...}; false with *error naming
/// the bad entry.
bool ParseStamps(const nlohmann::json& json, FileStamps* out, std::string* error);
/// The JSON ParseStamps reads.
nlohmann::json StampsJson(const FileStamps& stamps);

/// What the rule compares (every pointer is set).
struct RerunFacts {
  const spec::Plan* old_plan = nullptr;  // as stored, parsed from its spec_text
  const spec::Plan* new_plan = nullptr;  // the file as it is now
  const FileStamps* old_stamps = nullptr;  // the pure inputs' stamps at submit or last update
  const FileStamps* new_stamps = nullptr;  // and now
  const std::set<std::string>* missing_outputs = nullptr;  // declared outputs not on disk now
  const std::vector<JobDynamic>* states = nullptr;         // per job
};

/// A job that runs again, and why ("command changed", "input file data/raw.csv changed",
/// "output file models/m1.bin is missing", "upstream job 'prep' reruns").
struct RerunJob {
  JobIndex job = 0;
  std::vector<std::string> reasons;
};

/// What the rule decides.
struct RerunDecision {
  /// Jobs that ended (completed, failed, canceled, terminated) and run again: out of date
  /// themselves or downstream of one that is; in index order.
  std::vector<RerunJob> rerun;
  /// Jobs that had not ended but were ready and now wait again for an upstream job that reruns.
  std::vector<JobIndex> wait_again;
};

/// Why `new_plan` cannot update a workflow made from `old_plan` in place ("" when it can): the
/// same job names in the same order, the same dependency edges, as many actions.
std::string UpdateScopeProblem(const spec::Plan& old_plan, const spec::Plan& new_plan);

/// The rule (docs/rerun.md). A job that ended is out of date when its definition's digest
/// changed (spec/digest.h), when a pure input file it reads (no job produces it) has another
/// stamp than the one recorded (a path without a recorded stamp is not compared), when it
/// completed and one of its output files is missing, or when an upstream job reruns. Jobs that
/// have not ended run with the new definition anyway and are not listed. Disabled jobs stay.
/// The plans must pass UpdateScopeProblem.
RerunDecision DecideReruns(const RerunFacts& facts);

}  // namespace torc::server
