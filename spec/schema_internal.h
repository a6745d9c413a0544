// Pieces shared by the workflow-file readers in schema.cc (the document, the
// workflow, jobs, files, user data) and schema_sections.cc (resources,
// schedulers, actions, failure handlers, execution_config). Private to spec/.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "spec/diagnostics.h"
#include "spec/plan.h"
#include "spec/schema.h"

namespace YAML {
class Node;
}

namespace torc::spec {
class MapReader;
}

namespace torc::spec::internal {

/// Name of an entry for messages: "job 'train'" or "job #3" when it has no name.
std::string EntryName(const YAML::Node& node, const char* kind, size_t index);

/// "" when `text` can go into a line of the batch script (`#SBATCH --account=...`), else why
/// not: a control character (a line break would end the option and start a shell command).
std::string BatchScriptLineProblem(std::string_view text);

/// Reports each of `keys` that is present in `r` as not supported yet.
void RefuseUnsupported(MapReader& r, std::initializer_list<std::string_view> keys);

/// Reads the `stdio` mapping of a job or of execution_config (nullopt if it is unusable).
std::optional<StdioConfig> ReadStdio(const YAML::Node& node, const std::string& where,
                                     Diagnostics* diags);

/// Reads one entry of `resource_requirements`.
Located<ResourceRequirements> ReadRequirements(const YAML::Node& node, size_t index,
                                               Diagnostics* diags);

/// Reads one entry of `slurm_schedulers`.
Located<SlurmScheduler> ReadScheduler(const YAML::Node& node, size_t index, Diagnostics* diags);

/// Reads one entry of `actions`.
RawAction ReadAction(const YAML::Node& node, size_t index, Diagnostics* diags);

/// Reads one entry of `failure_handlers`.
Located<FailureHandler> ReadFailureHandler(const YAML::Node& node, size_t index,
                                           Diagnostics* diags);

/// Reads `execution_config` into `wf->execution`.
void ReadExecutionConfig(const YAML::Node& node, RawWorkflow* wf, Diagnostics* diags);

/// Reads `resource_monitor` (Torc's format) into `wf->resource_monitor`; keys torc does not act
/// on become its warnings.
void ReadResourceMonitor(const YAML::Node& node, RawWorkflow* wf, Diagnostics* diags);

}  // namespace torc::spec::internal
