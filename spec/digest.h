// What determines a job's result, as a digest: `torc run` again and `torc submit --update`
// compare the digests of the stored plan's jobs with those of the new file's to find the jobs
// whose definition changed (docs/rerun.md). What does not change a result (the scheduler,
// the priority, the failure handler, where stdout and stderr go) is not part of it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "spec/plan.h"

namespace torc::spec {

/// The parts of a job's definition a digest covers, each hashed on its own so that a changed
/// digest can say what changed.
enum class DefinitionPart {
  kCommand,           // the expanded command
  kInvocationScript,  // invocation_script
  kEnvironment,       // the workflow's env, then the job's
  kResources,         // cpus, gpus, nodes, memory, runtime (not the requirements' name)
  kInputFiles,        // the paths of its input_files, in order
  kOutputFiles,       // the paths of its output_files, in order
  kInputUserData,     // the names and values of the user_data it reads
  kOutputUserData,    // the names of the user_data it writes
};
inline constexpr size_t kNumDefinitionParts = 8;

/// The digest of one job's definition: one 64-bit hash per part.
struct JobDigest {
  std::array<uint64_t, kNumDefinitionParts> parts{};
  bool operator==(const JobDigest&) const = default;
  /// The parts combined into one value (what `torc plan --digests` would show).
  uint64_t Combined() const;
};

/// The digest of `job` of `plan`.
JobDigest DigestOf(const Plan& plan, const Job& job);

/// What differs between two digests of the same job, in words ("command changed", "resources
/// changed", ...), in the order of DefinitionPart; empty when they are equal.
std::vector<std::string> DescribeChanges(const JobDigest& before, const JobDigest& after);

/// The name of a part in messages ("command", "invocation_script", "env", "resources",
/// "input_files", "output_files", "input user_data", "output user_data").
const char* ToString(DefinitionPart part);

}  // namespace torc::spec
