// The expanded, validated workflow: what a workflow file means once every
// parameter sweep is expanded and every name is resolved. This is the only
// header of spec/ that other parts include.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace torc::spec {

/// Index into one of the Plan's vectors; kNone means "not set".
using Index = uint32_t;
inline constexpr Index kNone = UINT32_MAX;

/// One problem found in a workflow file, located at file:line:col (1-based).
struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;

  /// "file:line:col: message" (or "file: message" when the position is unknown).
  std::string ToString() const;
};

/// Per-node resources a job needs. All values are per node.
struct ResourceRequirements {
  std::string name;
  int64_t num_cpus = 1;
  int64_t num_gpus = 0;
  int64_t num_nodes = 1;
  int64_t memory_bytes = 0;  // 0: not requested (the worker gives a per-CPU share)
  int64_t runtime_seconds = 3600;      // PT1H
};

/// A Slurm allocation template (`slurm_schedulers` entry).
struct SlurmScheduler {
  std::string name;
  std::string account, partition, qos, mem, gres, tmp, extra;
  int64_t nodes = 1;
  std::optional<int64_t> ntasks_per_node;
  std::string walltime;          // as written, e.g. "12:00:00"
  int64_t walltime_seconds = 0;  // parsed
};

/// How a job's stdout/stderr are kept.
enum class StdioMode { kSeparate, kCombined, kNoStdout, kNoStderr, kNone };
/// `stdio` of execution_config (the workflow's default) or of a job (Job::stdio): which files
/// a job's output goes to, and whether they are deleted when the attempt completes.
struct StdioConfig {
  StdioMode mode = StdioMode::kSeparate;
  bool delete_on_success = false;
};

/// How workers start jobs: kSlurm as srun job steps, kDirect as their own child processes,
/// kAuto slurm inside an allocation and direct elsewhere (docs/worker.md).
enum class ExecutionMode { kAuto, kSlurm, kDirect };

/// `execution_config`: how workers launch jobs.
struct ExecutionConfig {
  ExecutionMode mode = ExecutionMode::kAuto;  // slurm inside an allocation, else direct
  bool limit_resources = true;
  std::string termination_signal = "SIGTERM";
  int64_t sigterm_lead_seconds = 30;
  std::optional<int64_t> oom_exit_code, timeout_exit_code;
  std::string srun_termination_signal;
  bool enable_cpu_bind = false;
  /// Slurm mode: a worker starts at most one srun per this many milliseconds (0: no limit).
  int64_t srun_launch_interval_ms = 25;
  StdioConfig stdio;
  /// Seconds kept free at the allocation's end: the walltime stop comes this much earlier, and
  /// the worker is gone by then (docs/worker.md, "Walltime"). 0: none.
  int64_t sigkill_headroom_seconds = 0;
  /// `srun --mpi=` for the srun that starts one worker per node (else `none`) and for slurm-mode
  /// job steps (else Slurm's MpiDefault). "": not set.
  std::string srun_mpi;
  /// `staggered_start`: the workers of an allocation request wait a moment each, spread over a
  /// window that grows with how many start together, before their first call to the server
  /// (server/sbatch_script.h, StartupWindowSeconds). Off unless the file asks (Torc: on).
  bool staggered_start = false;
};

/// `resource_monitor`: what workers measure of each job (docs/workflow-format.md).
struct ResourceMonitor {
  bool enabled = true;       // peak RSS and CPU time per node
  bool time_series = false;  // granularity: time_series (CPU % and RSS every interval)
  int64_t sample_interval_seconds = 10;
};

/// One rule of a failure handler: which failed attempts it matches (by exit code or by the
/// reason torc recorded) and how often it retries them, growing the next attempt's request.
struct FailureRule {
  std::vector<int64_t> exit_codes;
  bool match_all_exit_codes = false;
  int64_t max_retries = 0;
  std::string recovery_script;
  /// Reasons torc records for an attempt it ended (kRuleReasons); a runtime overrun has no
  /// exit code of its own, so a rule reaches it only this way.
  std::vector<std::string> reasons;
  /// The next attempt's memory / runtime request is the previous one times this (1: unchanged;
  /// else > 1 and <= kMaxRequestMultiplier).
  double memory_multiplier = 1;
  double runtime_multiplier = 1;
};

/// The attempt reasons a rule's `reasons` may list: the limits torc enforces on a job
/// (`memory`, `runtime`) and the ends of its allocation (`walltime`, `stopped`).
inline constexpr std::string_view kRuleReasons[] = {"memory",  "runtime",   "walltime",
                                                    "stopped", "preempted", "slurm"};
/// The largest memory_multiplier / runtime_multiplier (of a rule or of a restart).
inline constexpr double kMaxRequestMultiplier = 100;

/// A `failure_handlers` entry: the rules that decide whether a failed job is retried.
/// Jobs name it and hold its index (Job::failure_handler).
struct FailureHandler {
  std::string name;
  std::vector<FailureRule> rules;

  /// The rule that applies to a failed attempt: the first rule listing its exit code or its
  /// reason, else the first `match_all_exit_codes` rule; null for exit code 0 without a
  /// listed reason, or when none applies. Server and worker both use this.
  const FailureRule* Match(int64_t exit_code, std::string_view reason = {}) const;
  /// The first rule listing `reason`; null when none does. For attempts that ended
  /// terminated (runtime, walltime, stopped), which exit code rules do not catch.
  const FailureRule* MatchReason(std::string_view reason) const;
};

/// A `files` entry: a named path. A job listing it in input_files depends on every other
/// job listing it in output_files.
struct File {
  std::string name;
  std::string path;
};

/// A `user_data` entry: a named JSON value. Like files, it links the jobs that list it as
/// output to those that list it as input.
struct UserData {
  std::string name;
  std::string data_json;  // the `data` value serialized as JSON ("null" when absent)
  bool is_ephemeral = false;
};

/// When an action fires (`trigger_type`). The workflow and job triggers are tracked by the
/// server's scheduling core; on_worker_start / on_worker_complete commands are run by each
/// worker as it starts and ends.
enum class TriggerType {
  kOnWorkflowStart,
  kOnJobsReady,
  kOnJobsComplete,
  kOnWorkflowComplete,
  kOnWorkerStart,
  kOnWorkerComplete,
};
/// What an action does: submit Slurm allocations (`schedule_nodes`) or run shell commands
/// (`run_commands`).
enum class ActionType { kScheduleNodes, kRunCommands };

/// `actions` entry: what to do (allocate, run commands) when a trigger fires.
struct Action {
  TriggerType trigger = TriggerType::kOnWorkflowStart;
  ActionType type = ActionType::kRunCommands;
  std::vector<Index> jobs;  // resolved from `jobs` and `job_name_regexes`, sorted
  Index scheduler = kNone;
  int64_t num_allocations = 1;
  bool start_one_worker_per_node = false;
  std::vector<std::string> commands;
  /// Elastic schedule_nodes (docs/slurm.md, "Elastic allocations"): the server keeps asking
  /// for allocations while ready jobs wait, at most this many pending or running at once.
  int64_t max_allocations = 0;        // 0: not elastic
  int64_t max_nodes = 0;              // 0: no limit (elastic only)
  int64_t idle_timeout_seconds = 0;   // 0: the worker's default
  /// schedule_nodes: each worker of its allocations runs at most this many jobs at once, within
  /// its nodes' resources (0: as many as the resources hold).
  int64_t max_parallel_jobs = 0;
  bool elastic() const { return max_allocations > 0; }
};

/// A dependency on every job whose name matches one pattern. Stored once and
/// shared by all jobs that use the same pattern, so an all-to-all dependency
/// costs O(members + users), not O(members * users).
struct DependencyGroup {
  std::string pattern;         // as written (after parameter substitution)
  std::vector<Index> members;  // job indices, sorted
};

/// One expanded job.
struct Job {
  std::string name;
  std::string command;
  std::string invocation_script;
  std::vector<std::pair<std::string, std::string>> env;  // job env, merged over the workflow's
  Index requirements = kNone;     // into Plan::resource_requirements; kNone = defaults
  Index scheduler = kNone;        // into Plan::schedulers
  Index failure_handler = kNone;  // into Plan::failure_handlers
  int64_t priority = 0;
  bool cancel_on_blocking_job_failure = true;
  std::vector<Index> depends_on;         // direct parents, sorted, unique
  std::vector<Index> dependency_groups;  // into Plan::dependency_groups
  std::vector<Index> input_files, output_files;
  std::vector<Index> input_user_data, output_user_data;
  std::optional<StdioConfig> stdio;  // per-job override
};

/// The whole expanded workflow. Immutable once built by LoadWorkflowFile (cmd/)/ParsePlan.
struct Plan {
  std::string name;
  std::string description;
  std::string project;
  std::string source_file;
  std::vector<std::pair<std::string, std::string>> env;  // workflow-level env
  std::vector<Job> jobs;
  /// Per job: the index of the entry of the file's `jobs` list it was expanded from.
  std::vector<Index> job_entry;
  std::vector<DependencyGroup> dependency_groups;
  std::vector<File> files;
  std::vector<UserData> user_data;
  std::vector<ResourceRequirements> resource_requirements;
  std::vector<SlurmScheduler> schedulers;
  std::vector<std::pair<std::string, std::string>> slurm_defaults;
  std::vector<Action> actions;
  std::vector<FailureHandler> failure_handlers;
  ExecutionConfig execution;
  ResourceMonitor resource_monitor;
  /// `max_failures`: once this many jobs have failed (for good), no further job starts.
  std::optional<int64_t> max_failures;
  /// `compute_node_wait_for_new_jobs_seconds`: how long the workers of the workflow's
  /// allocations wait with nothing to run before they leave, unless an action's idle_timeout
  /// says otherwise (0: the worker's default, 60 s).
  int64_t worker_idle_timeout_seconds = 0;
  /// The files `@path` parameter values were read from: the path as written in the workflow file
  /// -> the file's text. What `torc submit` sends beside the workflow file (the server cannot
  /// read the submitter's files), and what the server expands the stored text with again.
  std::map<std::string, std::string> parameter_files;
  /// `compute_node_ignore_workflow_completion`: workers do not leave when the workflow is
  /// complete; they wait for jobs made ready again (torc restart) until their idle timeout.
  bool workers_ignore_completion = false;
  /// What the file says that torc does not act on, each at its key ("warning: '<key>' has no
  /// effect in torc: ..."). PlanWarnings lists them first.
  std::vector<Diagnostic> warnings;

  /// The requirements of `job` (the defaults when it names none).
  const ResourceRequirements& RequirementsOf(const Job& job) const;
  /// Every job `job` waits for: direct parents and group members, sorted, unique.
  std::vector<Index> AllParents(const Job& job) const;
  /// Number of dependency edges, counting each group membership once per user.
  uint64_t DependencyCount() const;
};

/// Why scheduler `s` can never run `job` (more nodes than it asks for, or a runtime longer
/// than its walltime: docs/worker.md, "Runtime and walltime"); "" when it can.
std::string CannotHold(const Plan& plan, const Job& job, const SlurmScheduler& s);

/// What a valid workflow will not do as its author probably expects, in words to act on: keys
/// torc does not act on (Plan::warnings, located), jobs no scheduler can hold, a cluster
/// workflow that never asks for compute. Each message starts with "warning: "; the unlocated
/// ones have line 0. `torc validate` and `torc submit` print them (`--strict`: as errors);
/// torc status lists the same as problems.
std::vector<Diagnostic> PlanWarnings(const Plan& plan);

/// Result of loading a workflow: a plan, or every problem found.
struct LoadResult {
  std::optional<Plan> plan;
  std::vector<Diagnostic> errors;  // sorted by position
  bool ok() const { return plan.has_value(); }
};

/// The syntax of a workflow file's text. kAuto: by the file name's extension (".json": strict
/// JSON, ".json5": JSON5, ".kdl": KDL), else by the text: after any "//" and "/* */" comments, a
/// '{' is JSON5 (which reads all JSON the same), a KDL node naming a workflow setting or section
/// with a value or block on the same line (`name "w"`, `job "a" {`) is KDL, anything else after
/// a comment JSON5; a text that starts otherwise is YAML.
enum class Format { kAuto, kYaml, kJson, kJson5, kKdl };

/// Limits that keep a hostile or mistaken file from exhausting the machine (docs/limits.md),
/// each checked before the memory or time it guards is spent, and how parameter files are read.
struct LoadOptions {
  uint64_t max_jobs = 10'000'000;  // after expansion
  /// Values of all parameters together, counted as they are read: a range of 10^12 values is
  /// refused from its text, before a single value exists.
  uint64_t max_parameter_values = 10'000'000;
  /// Parameter combinations expanded over all jobs, files and user_data entries together (a
  /// fan-in job folds many combinations into one job, so this is not max_jobs).
  uint64_t max_combinations = 50'000'000;
  /// Values in all user_data `data` together, after YAML aliases are expanded.
  uint64_t max_data_values = 1'000'000;
  /// Names tested against regular expressions (depends_on_regexes, ...) over all patterns:
  /// each test is linear (RE2), but many distinct patterns times many names is not.
  uint64_t max_regex_tests = 500'000'000;
  /// Reads the file of a parameter written `"@path"` (docs/workflow-format.md, "Parameters"):
  /// `path` as written after the '@'. True with the file's text in *contents; false with why
  /// not in *error (e.g. "No such file or directory (/home/u/wf/vals.txt)"), which is reported
  /// at the parameter's value. Unset: such a parameter is an error (this caller reads no files).
  /// The CLI reads the path relative to the workflow file (cmd/workflow_file.h), the server
  /// from the files sent with the workflow (Plan::parameter_files).
  std::function<bool(const std::string& path, std::string* contents, std::string* error)>
      read_parameter_file;
};

/// Longest job name, in bytes: with ".<attempt>.recovery.log" added it stays under the 255
/// bytes a file name may have.
inline constexpr size_t kMaxJobNameBytes = 200;

/// Why `name` cannot be a job name, or "" when it can. A job name becomes a file name (its
/// output is <output dir>/<name>.<attempt>.out) and a URL path segment, so it is one path
/// component of safe characters: 1 to kMaxJobNameBytes ASCII letters, digits and
/// `. _ - + = , @ : % ~`, not starting with '-' or '.' (docs/workflow-format.md, "Job names").
/// The message names the first character that is not allowed and says what is.
std::string JobNameProblem(std::string_view name);

/// Largest regular expression accepted (bytes), and the memory RE2 may use to compile one;
/// a pattern over either is refused with an error (also used by the API's name filter).
inline constexpr size_t kMaxRegexBytes = 4096;
inline constexpr int64_t kMaxRegexMemory = 32 << 20;

/// Largest workflow file (bytes): a longer text is refused before it is parsed, and the CLI
/// stops reading a file at this size (also the API's limit for `spec_text`). The parameter
/// files of one workflow (`"@path"` values) together may hold as many bytes again.
inline constexpr int64_t kMaxWorkflowFileBytes = 64 << 20;

/// Expands the text of a workflow file (YAML, JSON, JSON5 or KDL, chosen by the name's extension
/// or the content); `file_name` is used in diagnostics. Reading the file is the caller's (the CLI reads
/// it bounded: cmd/workflow_file.h).
LoadResult ParsePlan(const std::string& text, const std::string& file_name,
                     Format format = Format::kAuto, const LoadOptions& options = {});

const char* ToString(StdioMode mode);
/// The mode ToString names; kSeparate for any other text.
StdioMode StdioModeNamed(const std::string& name);
const char* ToString(ExecutionMode mode);
const char* ToString(TriggerType trigger);
const char* ToString(ActionType type);

}  // namespace torc::spec
