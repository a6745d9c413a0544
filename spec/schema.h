// The workflow file as written: every section read into typed structures with
// the positions of its values, before any parameter is expanded. Unknown keys,
// wrong types and malformed values are reported here.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "spec/diagnostics.h"
#include "spec/params.h"
#include "spec/plan.h"

namespace YAML {
class Node;
}

namespace torc::spec {

/// `parameters`, `parameter_mode` and `use_parameters` of a job, file or user_data entry.
struct RawParameters {
  std::vector<Parameter> params;
  std::vector<Loc> param_locs;
  std::vector<LString> use_parameters;
  ParameterMode mode = ParameterMode::kProduct;
  bool any() const { return !params.empty() || !use_parameters.empty(); }
};

/// The reference lists of a job, in one array so they are handled alike.
enum RefList {
  kDependsOn,
  kDependsOnRegexes,
  kInputFiles,
  kInputFileRegexes,
  kOutputFiles,
  kOutputFileRegexes,
  kInputUserData,
  kInputUserDataRegexes,
  kOutputUserData,
  kOutputUserDataRegexes,
  kNumRefLists
};
const char* RefListKey(RefList list);
inline bool IsRegexList(int list) { return list % 2 == 1; }

/// A `jobs` entry as written: a template that expands into a job per combination of its
/// parameters (combinations that give the same name fold into one job). Its references stay
/// text, with positions, until resolve.h turns them into indices.
struct RawJob {
  Loc loc;
  LString name, command, invocation_script;
  LString resource_requirements, scheduler, failure_handler;
  std::vector<std::pair<std::string, LString>> env;
  int64_t priority = 0;
  bool cancel_on_blocking_job_failure = true;
  std::array<std::vector<LString>, kNumRefLists> refs;
  RawParameters parameters;
  std::optional<StdioConfig> stdio;
};

/// A `files` entry as written; expands like a job when it has parameters.
struct RawFile {
  Loc loc;
  LString name, path;
  RawParameters parameters;
};

/// A `user_data` entry as written; expands like a job when it has parameters.
struct RawUserData {
  Loc loc;
  LString name;
  nlohmann::json data;
  bool is_ephemeral = false;
  RawParameters parameters;
};

/// A section entry read straight into its Plan type (resource requirements, schedulers,
/// failure handlers), with its position for errors found later, e.g. a duplicate name.
template <typename T>
struct Located {
  T value;
  Loc loc;
};

/// An `actions` entry as written: the Action with its references still names (scheduler,
/// jobs, job_name_regexes), resolved into indices by resolve.h.
struct RawAction {
  Loc loc;
  Action action;  // trigger, type, counts, commands; references resolved later
  LString scheduler;
  std::vector<LString> jobs, job_name_regexes;
  Loc worker_per_node_loc;
  Loc max_nodes_loc;  // where max_nodes is written (checked against the scheduler's nodes)
};

/// Everything the file says, validated for shape and types but not expanded.
struct RawWorkflow {
  std::string name, description, project;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<Parameter> parameters;  // workflow-level, for use_parameters
  std::vector<Loc> parameter_locs;
  std::vector<RawJob> jobs;
  std::vector<RawFile> files;
  std::vector<RawUserData> user_data;
  std::vector<Located<ResourceRequirements>> resource_requirements;
  std::vector<Located<SlurmScheduler>> schedulers;
  std::vector<std::pair<std::string, std::string>> slurm_defaults;
  std::vector<RawAction> actions;
  std::vector<Located<FailureHandler>> failure_handlers;
  ExecutionConfig execution;
  Loc execution_mode_loc;
  Loc srun_mpi_loc;  // where execution_config sets srun_mpi
  ResourceMonitor resource_monitor;
  std::optional<int64_t> max_failures;
  int64_t worker_idle_timeout_seconds = 0;  // compute_node_wait_for_new_jobs_seconds
  std::map<std::string, std::string> parameter_files;  // "@path" values' files (Plan's)
  bool workers_ignore_completion = false;   // compute_node_ignore_workflow_completion
};

/// Parses the text (YAML, or JSON checked strictly first) into a document.
/// Returns false with the syntax error in `diags`.
bool LoadDocument(const std::string& text, Format format, YAML::Node* root, Diagnostics* diags);

/// Reads the document into a RawWorkflow, reporting every problem in `diags`.
void ReadWorkflow(const YAML::Node& root, const LoadOptions& options, RawWorkflow* out,
                  Diagnostics* diags);

}  // namespace torc::spec
