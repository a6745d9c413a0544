// Name resolution and graph checks: turns the names and patterns an expanded
// workflow refers to into indices, adds the implicit dependencies that files
// and user data imply, and rejects undefined names, unmatched patterns,
// duplicates, cycles and jobs no scheduler can hold.
#pragma once

#include "spec/expand.h"

namespace torc::spec {

/// Resolves every reference of `exp` in place. Errors go to `diags`.
void Resolve(const RawWorkflow& wf, Expansion* exp, Diagnostics* diags);

/// Checks the resolved plan for dependency cycles (naming the jobs on one) and
/// for jobs that need more nodes than any scheduler they could run on.
void CheckGraph(const RawWorkflow& wf, const Expansion& exp, Diagnostics* diags);

}  // namespace torc::spec
