// A workflow written in KDL the way NREL's Torc writes it (its examples/kdl): top-level nodes
// `name "w"`, `job "a" { command "x"; depends_on_job "b" }`, `file "f" path="p"`, `action { ... }`
// and so on. The nodes are rewritten as the YAML the rest of spec/ reads, so that a KDL file
// means exactly what the same workflow in YAML means (docs/workflow-format.md, "KDL").
#pragma once

#include <string>
#include <vector>

#include "spec/diagnostics.h"
#include "spec/kdl.h"

namespace torc::spec {

/// Rewrites a KDL workflow as YAML flow text. KDL sections need not be contiguous (jobs, files,
/// jobs again), so the text cannot keep the KDL lines as the JSON5 rewrite does: instead every
/// name and value starts a line of its own, and (*origins)[k] is the KDL position of what line
/// k + 1 holds (Diagnostics::SetOrigins maps later messages through it). False with *error at
/// the first thing that is not KDL, or KDL that does not describe workflow settings (a job with
/// two names, a `depends_on_job` without a value, user data that is not JSON).
bool KdlWorkflowToYaml(const std::string& text, std::string* yaml, std::vector<Loc>* origins,
                       KdlError* error, int max_depth = 512);

}  // namespace torc::spec
